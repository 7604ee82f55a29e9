import { Hono } from "hono";
import { createUIMessageStreamResponse } from "ai";
import { z } from "zod";
import { traceIdFrom } from "../lib/trace";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { closeAnswered } from "../services/conversations";
import { startTurnOnce } from "../services/turn-once";
import { turnStream, type TurnRef } from "../services/turn-stream";
import type { Db } from "../db/client";
import type { ConversationRow } from "../db/conversations-repo";
import { checkMessageLength, ownedConversation } from "./conversations";
import { refusal } from "./refusals";
import { idempotencyKeyOf } from "./shared";

const part = z.looseObject({ type: z.string().max(64), text: z.string().optional() });
const uiMessage = z.looseObject({
  id: z.string().max(200).optional(),
  role: z.enum(["system", "user", "assistant"]),
  parts: z.array(part).max(1000),
});

/** What the AI SDK's DefaultChatTransport sends: the chat id (the conversation's) and its messages. */
export const chatBody = z.looseObject({
  id: z.string().min(1).max(64),
  messages: z.array(uiMessage).min(1).max(10_000),
  trigger: z.enum(["submit-message", "regenerate-message"]).default("submit-message"),
  messageId: z.string().max(200).optional(),
});

function turnRef(history: Db, row: ConversationRow, executionId: string, seq: number): TurnRef {
  return {
    tenantId: row.tenant_id,
    conversationId: row.id,
    executionId,
    seq,
    answered: (answer, at) => closeAnswered(history, row, seq, executionId, answer, at),
  };
}

/**
 * /v1/chat: a conversation turn spoken in the AI SDK's UI message stream protocol, so useChat with
 * `new DefaultChatTransport({ api: "/v1/chat" })` and `resume: true` works unchanged (the chat id is the
 * conversation id). Only the last message is read: the stored history is the conversation's.
 */
export const chatRoute = new Hono<AppEnv>()
  .post("/", async (c) => {
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, chatBody);
    const row = await ownedConversation(c, value.id);
    if (value.trigger === "regenerate-message")
      throw new AppError(
        422,
        "regenerate_unsupported",
        "A conversation keeps every answer; send the question again as a new message instead of regenerating.",
      );
    const last = value.messages[value.messages.length - 1]!;
    const path = `messages[${value.messages.length - 1}]`;
    const content = last.parts
      .filter((p) => p.type === "text" && typeof p.text === "string")
      .map((p) => p.text)
      .join("\n");
    if (last.role !== "user" || content.trim() === "")
      throw new AppError(422, "message_empty", "The last message must be the user's, with text.", {
        errors: [{ path, message: "expected a user message with a text part" }],
      });
    checkMessageLength(content, `${path}.parts`);
    // With an Idempotency-Key (a transport's prepareSendMessagesRequest can send the message's id) a retried POST is
    // the same turn: its stream again from the start, as a resumed stream is, never a second turn.
    const result = await startTurnOnce(c.env, c.get("db").db, c.get("history").db, {
      conversation: row,
      content,
      key,
      replayWaitMs: 0,
      traceId: traceIdFrom(c.req.header("traceparent") ?? null),
    });
    if (!result.ok) throw refusal(result);
    const turn = result.value;
    return createUIMessageStreamResponse({
      ...(result.created ? {} : { headers: { "idempotent-replayed": "true" } }),
      stream: turnStream(c.env, turnRef(c.get("history").db, row, turn.executionId, turn.seq)),
    });
  })
  .get("/:id/stream", async (c) => {
    const row = await ownedConversation(c);
    // No turn running: nothing to resume (the AI SDK takes 204 as that).
    if (!row.active_execution_id) return c.body(null, 204);
    // While a turn runs, message_count is its user message's seq.
    const ref = turnRef(c.get("history").db, row, row.active_execution_id, row.message_count);
    return createUIMessageStreamResponse({ stream: turnStream(c.env, ref) });
  });

import { Hono, type Context } from "hono";
import { z } from "zod";
import * as conv from "../db/conversations-repo";
import type { ConversationRow, MessageRow } from "../db/conversations-repo";
import { getWorkflow } from "../db/repo";
import type { Definition } from "../engine/dag";
import { validateInput } from "../engine/input";
import { config } from "../env";
import { decodeKeyset, encodeKeyset } from "../lib/cursor";
import { isId, newId } from "../lib/ids";
import { MAX_PREFER_WAIT_SECONDS, preferredWait } from "../lib/prefer";
import { traceIdFrom } from "../lib/trace";
import { readJson, readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { awaitTurn, eraseConversation } from "../services/conversations";
import { startTurnOnce } from "../services/turn-once";
import { idempotentCreate } from "../services/idempotent-create";
import { refusal } from "./refusals";
import { created, idempotencyKeyOf, iso, limitParam } from "./shared";

/** The longest message a conversation takes; longer is 422 message_too_long. */
export const MAX_MESSAGE_CHARS = 100_000;
/** The longest a message may wait for its answer (Prefer: wait=N). */

const userId = z.string().min(1).max(200);
export const conversationCreate = z
  .object({
    workflow_id: z.string().min(1).max(64),
    /** Pin a version; without it each turn runs the latest. */
    version: z.number().int().min(1).optional(),
    user_id: userId.optional(),
    metadata: z
      .record(z.string().min(1).max(64), z.string().max(1024))
      .refine((m) => Object.keys(m).length <= 20, "at most 20 keys")
      .optional(),
    /** Tokens each turn may give the model: the message, the summary and as much recent history as fits. */
    history_tokens: z.number().int().min(256).max(2_000_000).optional(),
  })
  .strict();

export const messageBody = z
  .object({ content: z.string().min(1).describe(`At most ${MAX_MESSAGE_CHARS} characters.`) })
  .strict();

const cursorParam = z
  .string()
  .max(512)
  .optional()
  .transform((raw, ctx): conv.ConversationCursor | null => {
    if (!raw) return null;
    try {
      const v = decodeKeyset(raw);
      if (typeof v[0] === "number" && typeof v[1] === "string") return { updated_at: v[0], id: v[1] };
    } catch {
      // reported below
    }
    ctx.addIssue({ code: "custom", message: "malformed cursor" });
    return z.NEVER;
  });
export const listConversationsQuery = z.object({ user_id: userId.optional(), cursor: cursorParam, limit: limitParam });
export const messagesQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

function conversationView(r: ConversationRow) {
  return {
    id: r.id,
    workflow_id: r.workflow_id,
    version: r.version,
    user_id: r.user_id,
    metadata: r.metadata ?? {},
    history_tokens: r.history_tokens,
    message_count: r.message_count,
    last_message:
      r.last_message_role === null
        ? null
        : {
            role: r.last_message_role,
            content: r.last_message,
            status: r.last_message_status,
            created_at: iso(r.last_message_at),
          },
    active_execution_id: r.active_execution_id,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export function messageView(
  m: Pick<
    MessageRow,
    "seq" | "role" | "content" | "status" | "execution_id" | "error_code" | "error_message" | "created_at"
  >,
) {
  return {
    seq: m.seq,
    role: m.role,
    content: m.content,
    status: m.status,
    execution_id: m.execution_id,
    error: m.error_code ? { code: m.error_code, message: m.error_message } : null,
    created_at: iso(m.created_at),
  };
}

function notFound(id: string): AppError {
  return new AppError(404, "conversation_not_found", `Conversation ${id} does not exist.`);
}

/** The tenant's conversation `id` (the path's by default), or 404: another tenant's looks like none. */
export async function ownedConversation(c: Context<AppEnv>, id = c.req.param("id") ?? ""): Promise<ConversationRow> {
  const row = isId("cv", id) ? await conv.getConversation(c.get("history").db, c.get("tenantId"), id) : null;
  if (!row) throw notFound(id);
  return row;
}

/** 422 message_too_long past MAX_MESSAGE_CHARS, at `path` (where the request held the text). */
export function checkMessageLength(content: string, path: string): void {
  if (content.length > MAX_MESSAGE_CHARS)
    throw new AppError(
      422,
      "message_too_long",
      `A message holds at most ${MAX_MESSAGE_CHARS} characters; this one has ${content.length}.`,
      { errors: [{ path, message: `at most ${MAX_MESSAGE_CHARS} characters` }] },
    );
}

/** /v1/conversations: a conversation bound to a workflow, each message one turn of it. */
export const conversationsRoute = new Hono<AppEnv>()
  .post("/", async (c) => {
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, conversationCreate);
    const tenantId = c.get("tenantId");
    const wf = isId("wf", value.workflow_id)
      ? await getWorkflow(c.get("db").db, tenantId, value.workflow_id, value.version ?? null)
      : null;
    if (!wf)
      throw value.version === undefined
        ? refusal({
            code: "workflow_not_found",
            message: `Workflow ${value.workflow_id} does not exist.`,
            retryable: false,
          })
        : refusal({
            code: "version_not_found",
            message: `Workflow ${value.workflow_id} has no version ${value.version}.`,
            retryable: false,
          });
    const schema = (wf.definition as Definition).input_schema;
    // A turn's input as this conversation will give it: a workflow that needs something in the metadata (a shop's
    // URL for a tool) refuses a conversation created without it now, not at its first message.
    const sample = {
      message: "hello",
      history: [],
      conversation: { id: "cv_new", user_id: value.user_id ?? null, metadata: value.metadata ?? {} },
    };
    const errors = schema ? validateInput(schema, sample) : [];
    const inMetadata = errors.filter((e) => e.path.startsWith("input.conversation.metadata"));
    if (inMetadata.length)
      throw new AppError(
        422,
        "metadata_invalid",
        "The conversation's workflow reads its metadata, and this metadata does not give it what it needs.",
        {
          errors: inMetadata.map((e) => ({
            path: e.path.replace(/^input\.conversation\.metadata/, "metadata"),
            message: e.message,
          })),
        },
      );
    if (errors.length)
      throw new AppError(
        422,
        "workflow_not_conversational",
        "A conversation's workflow takes {message, history, summary?, conversation} as input and answers with output.reply; this one's input_schema refuses that.",
        { errors: errors.map((e) => ({ path: `input_schema: ${e.path}`, message: e.message })) },
      );
    const history = c.get("history").db;
    // Kept as long as its turns are: the workflow's own retention, else the deployment's.
    const retainDays = (wf.definition as Definition).retention_days ?? config(c.env).RETENTION_DAYS;
    const result = await idempotentCreate(
      c.get("db").db,
      { tenantId, scope: "conversation", key, request: value, id: newId("cv") },
      async (id) => {
        const now = Date.now();
        const row: ConversationRow = {
          id,
          tenant_id: tenantId,
          workflow_id: value.workflow_id,
          version: value.version ?? null,
          user_id: value.user_id ?? null,
          metadata: value.metadata ?? null,
          history_tokens: value.history_tokens ?? config(c.env).CONVERSATION_HISTORY_TOKENS,
          summary: null,
          message_count: 0,
          last_message_role: null,
          last_message: null,
          last_message_status: null,
          last_message_at: null,
          active_execution_id: null,
          active_since: null,
          created_at: now,
          updated_at: now,
          deleted_at: null,
          retain_days: retainDays,
          retain_until: now + retainDays * 86_400_000,
        };
        return (await conv.insertConversation(history, row)) ? conversationView(row) : null;
      },
      async (id) => {
        const row = await conv.getConversation(history, tenantId, id);
        return row && conversationView(row);
      },
    );
    return created(c, result, (id) => `/v1/conversations/${id}`);
  })
  .get("/", async (c) => {
    const q = readQuery(c, listConversationsQuery);
    const rows = await conv.listConversations(
      c.get("history").db,
      c.get("tenantId"),
      q.user_id ?? null,
      q.cursor,
      q.limit + 1,
    );
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return c.json({
      data: page.map(conversationView),
      next_cursor: rows.length > q.limit && last ? encodeKeyset([last.updated_at, last.id]) : null,
    });
  })
  .get("/:id", async (c) => c.json(conversationView(await ownedConversation(c))))
  .delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!isId("cv", id) || !(await eraseConversation(c.env, c.get("history").db, c.get("tenantId"), id)))
      throw notFound(id);
    return c.body(null, 204);
  })
  .get("/:id/messages", async (c) => {
    const row = await ownedConversation(c);
    const q = readQuery(c, messagesQuery);
    const rows = await conv.listMessages(c.get("history").db, row.id, q.after, q.limit + 1);
    const page = rows.slice(0, q.limit);
    return c.json({
      data: page.map(messageView),
      next_after: rows.length > q.limit ? (page.at(-1)?.seq ?? null) : null,
    });
  })
  .post("/:id/messages", async (c) => {
    const key = idempotencyKeyOf(c);
    const row = await ownedConversation(c);
    const { value } = await readJson(c, messageBody);
    checkMessageLength(value.content, "content");
    const wait = preferredWait(c.req.header("prefer"), MAX_PREFER_WAIT_SECONDS);
    const waitMs = (wait ?? 0) * 1000;
    const history = c.get("history").db;
    const result = await startTurnOnce(c.env, c.get("db").db, history, {
      conversation: row,
      content: value.content,
      key,
      replayWaitMs: waitMs,
      traceId: traceIdFrom(c.req.header("traceparent") ?? null),
    });
    if (!result.ok) throw refusal(result);
    // The key is settled once the turn has started, so a retry while this request waits replays instead of a 409.
    const turn = result.created ? await awaitTurn(c.env, history, row, result.value, waitMs) : result.value;
    if (!result.created) c.header("idempotent-replayed", "true");
    if (wait !== null) c.header("preference-applied", `wait=${wait}`);
    const message = messageView({
      seq: turn.seq,
      role: "user",
      content: value.content,
      status: turn.answer ? (turn.answer.status === "ok" ? "ok" : "unanswered") : "pending",
      execution_id: turn.executionId,
      error_code: null,
      error_message: null,
      created_at: turn.createdAt,
    });
    const reply = turn.answer
      ? messageView({
          seq: turn.seq + 1,
          role: "assistant",
          ...turn.answer,
          execution_id: turn.executionId,
          created_at: Date.parse(turn.view?.finished_at ?? "") || Date.now(),
        })
      : null;
    const body = {
      conversation_id: row.id,
      execution_id: turn.executionId,
      status: turn.view?.status ?? "running",
      message,
      reply,
      history: turn.window,
      stream: `/v1/executions/${turn.executionId}/stream`,
    };
    if (reply) return c.json(body, 200);
    c.header("location", `/v1/executions/${turn.executionId}`);
    return c.json(body, 202);
  });

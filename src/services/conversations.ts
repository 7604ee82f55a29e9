// Conversation turns: a message claims the conversation's one turn slot, runs the bound workflow through the one start
// path with the history window as input, and its answer is written when the run ends (by the projection, or by a
// request that waited for it, whichever comes first). Also the erasure of a conversation with its executions.
import type { Db } from "../db/client";
import * as conv from "../db/conversations-repo";
import type { ConversationRow } from "../db/conversations-repo";
import { estimateTokens, historyWindow, turnAnswer, type TurnAnswer, type TurnStatus } from "../engine/conversation";
import { TERMINAL_EXECUTION } from "../engine/events";
import type { FieldError } from "../engine/dag";
import { inBatches } from "../lib/batches";
import { newId } from "../lib/ids";
import { settledOf, snapshotOf } from "../durable/client";
import { answerOfView } from "../durable/projection";
import type { ExecutionView } from "../durable/view";
import { MAX_LLM_MESSAGES } from "../nodes/llm";
import { eraseExecution } from "./erase";
import { IN_FLIGHT_LEASE_MS } from "./idempotent-create";
import { startExecution, type StartRefused } from "./start";

// The newest answered messages read to choose a window from: more than any budget a turn is given holds in practice
// (a 1-token message still costs its 4-token frame), so the window is the budget's, not this read's.
const HISTORY_READ = 400;
// A start the object did not confirm is tried again this often; the object's start is idempotent per execution id.
const START_TRIES = 3;

export type TurnRefusal = "conversation_not_found" | "conversation_busy" | "message_over_budget" | StartRefused["code"];

export interface TurnRefused {
  ok: false;
  code: TurnRefusal;
  message: string;
  retryable: boolean;
  execution_id?: string;
  errors?: FieldError[];
}

export interface TurnStarted {
  ok: true;
  executionId: string;
  /** The user message's seq; the answer takes seq + 1. */
  seq: number;
  createdAt: number;
  window: { messages: number; tokens: number; dropped: boolean };
  /** The execution's state when the wait ended (null when nobody waited). */
  view: ExecutionView | null;
  /** The answer, when the turn ended within the wait. */
  answer: TurnAnswer | null;
}

/** Close a turn that ended with `answer` (idempotent: the projection writes the same). */
export function closeAnswered(
  history: Db,
  c: ConversationRow,
  seq: number,
  executionId: string,
  answer: TurnAnswer,
  at: number,
): Promise<void> {
  const tokens = estimateTokens(answer.content ?? "");
  return conv.closeTurn(history, { conversation_id: c.id, seq, execution_id: executionId, answer, tokens, at });
}

/**
 * The slot is held by a turn that has ended (its projection has not landed yet) or that never started (its request
 * died after the claim): close it so the next message can go. False when the turn is still running.
 */
async function freeStaleSlot(
  env: Env,
  history: Db,
  c: ConversationRow,
  busy: { executionId: string; since: number; seq: number },
) {
  const view = busy.executionId ? await snapshotOf(env, busy.executionId, c.tenant_id) : null;
  const now = Date.now();
  if (view && TERMINAL_EXECUTION.has(view.status)) {
    await closeAnswered(history, c, busy.seq, busy.executionId, answerOfView(view), now);
    return true;
  }
  if (view || busy.since > now - IN_FLIGHT_LEASE_MS) return false;
  const answer = turnAnswer("failed", null, {
    code: "turn_interrupted",
    message: "The request that sent this message ended before its turn started; send the message again.",
  });
  await closeAnswered(history, c, busy.seq, busy.executionId, answer, now);
  return true;
}

export interface SendMessage {
  conversation: ConversationRow;
  content: string;
  /** The turn's execution id: the one an Idempotency-Key's claim holds, else a new one. */
  executionId?: string | undefined;
  traceId?: string | undefined;
}

/** Start one turn of `conversation` with `content` as the user's message (awaitTurn waits for its answer). */
export async function sendMessage(env: Env, db: Db, history: Db, r: SendMessage): Promise<TurnStarted | TurnRefused> {
  const c = r.conversation;
  const tokens = estimateTokens(r.content);
  const room = c.history_tokens - tokens - (c.summary ? estimateTokens(c.summary) : 0);
  if (room < 0)
    return {
      ok: false,
      code: "message_over_budget",
      message: `The message is about ${tokens} tokens; this conversation gives each turn ${c.history_tokens} (history_tokens), message and summary included.`,
      retryable: false,
      errors: [{ path: "content", message: `must fit in history_tokens (${c.history_tokens} tokens)` }],
    };
  const executionId = r.executionId ?? newId("ex");
  const ask = {
    conversationId: c.id,
    tenantId: c.tenant_id,
    executionId,
    content: r.content,
    tokens,
    historyLimit: HISTORY_READ,
  };
  // The message's created_at, as stored: a replay of this turn reads it back.
  let createdAt = Date.now();
  let claim = await conv.claimTurn(history, { ...ask, now: createdAt });
  if (!claim.ok && claim.reason === "busy" && (await freeStaleSlot(env, history, c, claim))) {
    createdAt = Date.now();
    claim = await conv.claimTurn(history, { ...ask, now: createdAt });
  }
  if (!claim.ok && claim.reason === "gone")
    return {
      ok: false,
      code: "conversation_not_found",
      message: `Conversation ${c.id} does not exist.`,
      retryable: false,
    };
  if (!claim.ok)
    return {
      ok: false,
      code: "conversation_busy",
      message: `Conversation ${c.id} is answering message ${claim.seq}; send the next message when that turn ends (its execution: ${claim.executionId}).`,
      retryable: true,
      execution_id: claim.executionId,
    };
  // The claim left room for the message and the summary; the window takes the rest.
  const window = historyWindow(claim.history, Math.max(0, room), MAX_LLM_MESSAGES - 1);
  const summary = claim.summary ?? c.summary;
  // The conversation's own metadata goes with every turn: what a tool needs to know about whose conversation it is.
  const about = { id: c.id, user_id: c.user_id, metadata: c.metadata ?? {} };
  const input = { message: r.content, history: window.messages, ...(summary ? { summary } : {}), conversation: about };
  const start = () =>
    startExecution(env, db, {
      tenantId: c.tenant_id,
      workflowId: c.workflow_id,
      version: c.version ?? undefined,
      input,
      executionId,
      conversation: { id: c.id, seq: claim.seq },
      lane: "interactive",
      metadata: { conversation_id: c.id },
      requestForHash: null,
      traceId: r.traceId,
    });
  let started = await start();
  for (let i = 1; i < START_TRIES && !started.ok && started.code === "execution_start_interrupted"; i++)
    started = await start();
  if (!started.ok) {
    await conv.undoTurn(history, c.id, claim.seq, executionId);
    return started;
  }
  return {
    ok: true,
    executionId,
    seq: claim.seq,
    createdAt,
    window: { messages: window.messages.length, tokens: window.tokens, dropped: window.dropped },
    view: null,
    answer: null,
  };
}

/** A started turn, waited for up to `waitMs`: with its answer when it ended by then. */
export async function awaitTurn(
  env: Env,
  history: Db,
  c: ConversationRow,
  turn: TurnStarted,
  waitMs: number,
): Promise<TurnStarted> {
  if (waitMs <= 0) return turn;
  const view = await settledOf(env, turn.executionId, c.tenant_id, waitMs);
  return view && TERMINAL_EXECUTION.has(view.status) ? closedTurn(history, c, turn, view) : { ...turn, view };
}

/** An ended turn's answer. The projection writes the same; closing it here as well lets the next message go at once. */
async function closedTurn(history: Db, c: ConversationRow, turn: TurnStarted, view: ExecutionView) {
  const answer = answerOfView(view);
  const at = Date.parse(view.finished_at ?? "") || Date.now();
  await closeAnswered(history, c, turn.seq, turn.executionId, answer, at);
  return { ...turn, view, answer };
}

/**
 * The turn an earlier request with the same Idempotency-Key started (execution `executionId`), as it stands now, or
 * waited for up to `waitMs` while it runs; null when there is no such turn. Its history is what its execution was
 * given.
 */
export async function replayTurn(
  env: Env,
  history: Db,
  c: ConversationRow,
  executionId: string,
  waitMs: number,
): Promise<TurnStarted | null> {
  const turn = await conv.turnOf(history, c.id, executionId);
  const user = turn?.messages.find((m) => m.role === "user");
  if (!turn || !user) return null;
  const reply = turn.messages.find((m) => m.role === "assistant");
  const view = await settledOf(env, executionId, c.tenant_id, reply ? 0 : waitMs);
  const given = (view?.input as { history?: { content: string }[] } | null | undefined)?.history ?? [];
  const started: TurnStarted = {
    ok: true,
    executionId,
    seq: user.seq,
    createdAt: user.created_at,
    window: {
      messages: given.length,
      tokens: given.reduce((n, m) => n + estimateTokens(m.content), 0),
      dropped: turn.answeredBefore > given.length,
    },
    view,
    answer: null,
  };
  if (reply) {
    const { status, content, error_code, error_message } = reply;
    return { ...started, answer: { status: status as TurnStatus, content, summary: null, error_code, error_message } };
  }
  return view && TERMINAL_EXECUTION.has(view.status) ? closedTurn(history, c, started, view) : started;
}

/**
 * DELETE /v1/conversations/:id: closed to new messages first, then every execution of its turns erased (storage, R2
 * outputs, D1 history), then its messages and row. Safe to repeat: a delete cut short is finished by the next one.
 */
export async function eraseConversation(env: Env, history: Db, tenantId: string, id: string): Promise<boolean> {
  if (!(await conv.markDeleted(history, tenantId, id, Date.now()))) return false;
  const executions = await conv.turnExecutions(history, id);
  const results = await inBatches(executions, 6, (ex) => eraseExecution(env, history, tenantId, ex));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${executions[i]}: ${String(r.reason)}`] : []));
  if (failed.length) throw new Error(`erasing the conversation's executions failed: ${failed.join("; ")}`);
  await conv.deleteConversation(history, tenantId, id);
  return true;
}

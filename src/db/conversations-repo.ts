// Conversations and their messages, in the tenant's history database. The routes and the conversations service read
// and claim here; the execution's projection closes a turn with closeTurnStatements (history-repo.ts), in the same
// batch as its final rows, so an answer is retried until it lands like the rest of the run.
import { and, asc, desc, eq, gt, isNull, lt, sql, type SQL } from "drizzle-orm";
import type { Db } from "./client";
import { conversationMessages, conversations } from "./schema";
import type { StoredMessage, TurnAnswer } from "../engine/conversation";

export type ConversationRow = typeof conversations.$inferSelect;
export type MessageRow = typeof conversationMessages.$inferSelect;

/** Keyset cursor over (updated_at, id), most recently active first. */
export interface ConversationCursor {
  updated_at: number;
  id: string;
}

export async function insertConversation(db: Db, row: typeof conversations.$inferInsert): Promise<boolean> {
  const done = await db.insert(conversations).values(row).onConflictDoNothing().run();
  return done.meta.changes > 0;
}

/** The conversation, unless it is another tenant's or being deleted. */
export async function getConversation(db: Db, tenantId: string, id: string): Promise<ConversationRow | null> {
  const [row] = await db
    .select()
    .from(conversations)
    .where(and(eq(conversations.id, id), eq(conversations.tenant_id, tenantId), isNull(conversations.deleted_at)));
  return row ?? null;
}

function listQuery(db: Db, tenantId: string, userId: string | null, cursor: ConversationCursor | null, limit: number) {
  const where: (SQL | undefined)[] = [
    eq(conversations.tenant_id, tenantId),
    userId === null ? undefined : eq(conversations.user_id, userId),
    isNull(conversations.deleted_at),
    cursor ? sql`(${conversations.updated_at}, ${conversations.id}) < (${cursor.updated_at}, ${cursor.id})` : undefined,
  ];
  return db
    .select()
    .from(conversations)
    .where(and(...where))
    .orderBy(desc(conversations.updated_at), desc(conversations.id))
    .limit(limit);
}

/** One page, most recently active first, each with its message count and last message: one indexed query. */
export function listConversations(
  db: Db,
  tenantId: string,
  userId: string | null,
  cursor: ConversationCursor | null,
  limit: number,
): Promise<ConversationRow[]> {
  return listQuery(db, tenantId, userId, cursor, limit);
}

/** How SQLite runs listConversations (a test checks it walks an index, never a scan or a temp sort). */
export async function explainListConversations(db: Db, tenantId: string, userId: string | null): Promise<string[]> {
  const rows = await db.all<{ detail: string }>(
    sql`EXPLAIN QUERY PLAN ${listQuery(db, tenantId, userId, null, 20).getSQL()}`,
  );
  return rows.map((r) => r.detail);
}

export function listMessages(db: Db, conversationId: string, after: number, limit: number): Promise<MessageRow[]> {
  return db
    .select()
    .from(conversationMessages)
    .where(and(eq(conversationMessages.conversation_id, conversationId), gt(conversationMessages.seq, after)))
    .orderBy(asc(conversationMessages.seq))
    .limit(limit);
}

export interface TurnClaim {
  conversationId: string;
  tenantId: string;
  executionId: string;
  content: string;
  tokens: number;
  now: number;
  /** How many answered messages, newest first, to read as the history to choose the window from. */
  historyLimit: number;
}

export type ClaimOutcome =
  | { ok: true; seq: number; summary: string | null; history: StoredMessage[] }
  | { ok: false; reason: "gone" }
  | { ok: false; reason: "busy"; executionId: string; since: number; seq: number };

/**
 * Take the conversation's one turn slot and store the user's message, then read the history: one batch (one
 * transaction). The message is `pending` until its turn ends, so it is not in its own history; only answered
 * messages (`ok`) are.
 */
export async function claimTurn(db: Db, t: TurnClaim): Promise<ClaimOutcome> {
  const d1 = db.$client;
  const [, , state, history] = await d1.batch([
    d1
      .prepare(
        `UPDATE conversations SET active_execution_id = ?1, active_since = ?2, message_count = message_count + 1,
         last_message_role = 'user', last_message = ?3, last_message_status = 'ok', last_message_at = ?2,
         updated_at = ?2, retain_until = ?2 + retain_days * 86400000
         WHERE id = ?4 AND tenant_id = ?5 AND deleted_at IS NULL AND active_execution_id IS NULL`,
      )
      .bind(t.executionId, t.now, t.content, t.conversationId, t.tenantId),
    d1
      .prepare(
        `INSERT INTO conversation_messages (conversation_id, seq, role, content, status, execution_id, tokens,
         created_at) SELECT id, message_count, 'user', ?1, 'pending', ?2, ?3, ?4 FROM conversations
         WHERE id = ?5 AND active_execution_id = ?2 ON CONFLICT DO NOTHING`,
      )
      .bind(t.content, t.executionId, t.tokens, t.now, t.conversationId),
    d1
      .prepare(
        `SELECT message_count, active_execution_id, active_since, summary FROM conversations
         WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL`,
      )
      .bind(t.conversationId, t.tenantId),
    d1
      .prepare(
        `SELECT seq, role, content, tokens FROM conversation_messages WHERE conversation_id = ? AND status = 'ok'
         ORDER BY seq DESC LIMIT ?`,
      )
      .bind(t.conversationId, t.historyLimit),
  ]);
  const row = state?.results[0] as
    | { message_count: number; active_execution_id: string | null; active_since: number | null; summary: string | null }
    | undefined;
  if (!row) return { ok: false, reason: "gone" };
  if (row.active_execution_id !== t.executionId)
    return {
      ok: false,
      reason: "busy",
      executionId: row.active_execution_id ?? "",
      since: row.active_since ?? 0,
      seq: row.message_count,
    };
  return { ok: true, seq: row.message_count, summary: row.summary, history: history!.results as StoredMessage[] };
}

/** The messages of the turn `executionId` ran (the user's, and the answer once there is one), with how many
 * answered messages came before it (what its history could have held). */
export async function turnOf(
  db: Db,
  conversationId: string,
  executionId: string,
): Promise<{ messages: MessageRow[]; answeredBefore: number } | null> {
  const rows = (
    await db.$client
      .prepare(
        `SELECT m.*, (SELECT count(*) FROM conversation_messages o WHERE o.conversation_id = m.conversation_id
           AND o.seq < m.seq AND o.status = 'ok') AS answered_before
         FROM conversation_messages m WHERE m.conversation_id = ? AND m.execution_id = ? ORDER BY m.seq`,
      )
      .bind(conversationId, executionId)
      .all<MessageRow & { answered_before: number }>()
  ).results;
  if (!rows.length) return null;
  return {
    messages: rows.map(({ answered_before: _, ...m }) => m),
    answeredBefore: rows[0]!.answered_before,
  };
}

/** A turn that never started (its start was refused): its message goes and the slot is given back, as if unsent. */
export async function undoTurn(db: Db, conversationId: string, seq: number, executionId: string): Promise<void> {
  const d1 = db.$client;
  await d1.batch([
    d1
      .prepare("DELETE FROM conversation_messages WHERE conversation_id = ? AND seq = ? AND execution_id = ?")
      .bind(conversationId, seq, executionId),
    d1
      .prepare(
        `UPDATE conversations SET active_execution_id = NULL, active_since = NULL, message_count = ?1 - 1,
         (last_message_role, last_message, last_message_status, last_message_at) = (SELECT role, content, status,
         created_at FROM conversation_messages WHERE conversation_id = ?2 ORDER BY seq DESC LIMIT 1)
         WHERE id = ?2 AND active_execution_id = ?3`,
      )
      .bind(seq, conversationId, executionId),
  ]);
}

/** A turn's end: the answer after the user's message `seq`, written once, whoever writes it first. */
export interface TurnClose {
  conversation_id: string;
  /** The user message's seq; the answer takes seq + 1. */
  seq: number;
  execution_id: string;
  answer: TurnAnswer;
  tokens: number;
  at: number;
}

/**
 * The statements that close a turn: the answer, the user message marked answered (or unanswered, so a failed turn
 * never becomes history), and the slot given back with the list columns. Safe to run twice and from both writers
 * (the projection and a waiting request): each statement is keyed on the turn's execution holding the slot.
 */
export function closeTurnStatements(d1: D1Database, t: TurnClose): D1PreparedStatement[] {
  const a = t.answer;
  return [
    d1
      .prepare(
        `INSERT INTO conversation_messages (conversation_id, seq, role, content, status, execution_id, tokens,
         error_code, error_message, created_at) SELECT ?1, ?2, 'assistant', ?3, ?4, ?5, ?6, ?7, ?8, ?9
         WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?1 AND active_execution_id = ?5) ON CONFLICT DO NOTHING`,
      )
      .bind(
        t.conversation_id,
        t.seq + 1,
        a.content,
        a.status,
        t.execution_id,
        t.tokens,
        a.error_code,
        a.error_message,
        t.at,
      ),
    d1
      .prepare(
        `UPDATE conversation_messages SET status = ? WHERE conversation_id = ? AND seq = ? AND execution_id = ?
         AND status = 'pending'`,
      )
      .bind(a.status === "ok" ? "ok" : "unanswered", t.conversation_id, t.seq, t.execution_id),
    d1
      .prepare(
        `UPDATE conversations SET active_execution_id = NULL, active_since = NULL,
         message_count = max(message_count, ?1), last_message_role = 'assistant', last_message = ?2,
         last_message_status = ?3, last_message_at = ?4, updated_at = max(updated_at, ?4),
         retain_until = max(coalesce(retain_until, 0), ?4 + retain_days * 86400000),
         summary = coalesce(?5, summary) WHERE id = ?6 AND active_execution_id = ?7`,
      )
      .bind(t.seq + 1, a.content, a.status, t.at, a.summary, t.conversation_id, t.execution_id),
  ];
}

export async function closeTurn(db: Db, t: TurnClose): Promise<void> {
  await db.$client.batch(closeTurnStatements(db.$client, t));
}

/** Begin a delete: from now on the conversation answers 404 and takes no message. False when there is none. */
export async function markDeleted(db: Db, tenantId: string, id: string, now: number): Promise<boolean> {
  const done = await db
    .update(conversations)
    .set({ deleted_at: sql`coalesce(${conversations.deleted_at}, ${now})` })
    .where(and(eq(conversations.id, id), eq(conversations.tenant_id, tenantId)))
    .run();
  return done.meta.changes > 0;
}

/** Every execution that ran one of the conversation's turns. */
export async function turnExecutions(db: Db, id: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ id: conversationMessages.execution_id })
    .from(conversationMessages)
    .where(eq(conversationMessages.conversation_id, id));
  return rows.map((r) => r.id);
}

/** The last step of a delete, once its executions are erased: the messages and the row. */
export async function deleteConversation(db: Db, tenantId: string, id: string): Promise<void> {
  await db.batch([
    db.delete(conversationMessages).where(eq(conversationMessages.conversation_id, id)),
    db.delete(conversations).where(and(eq(conversations.id, id), eq(conversations.tenant_id, tenantId))),
  ]);
}

/** Conversations whose retention ran out (no message for their retain_days), deleted or not, oldest first. */
export async function expiredConversations(
  db: Db,
  now: number,
  limit: number,
): Promise<{ id: string; tenant_id: string }[]> {
  return db
    .select({ id: conversations.id, tenant_id: conversations.tenant_id })
    .from(conversations)
    .where(lt(conversations.retain_until, now))
    .orderBy(conversations.retain_until)
    .limit(limit);
}

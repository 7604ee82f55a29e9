// D1 queries of approvals, their decisions and their notices (src/services/approvals.ts owns the logic). Every
// change of an approval's status is conditional on it still being pending, so of a decision and a timeout (or three
// concurrent decisions) exactly one settles it.
import { and, asc, desc, eq, inArray, isNull, lt, lte, sql } from "drizzle-orm";
import type { Db } from "./client";
import { approvalDecisions, approvalNotices, approvals } from "./schema";
import type { ApprovalStatus } from "../engine/approval";

export type ApprovalRow = typeof approvals.$inferSelect;
export type DecisionRow = typeof approvalDecisions.$inferSelect;
export type NoticeRow = typeof approvalNotices.$inferSelect;
export type NewNotice = Pick<NoticeRow, "id" | "approval_id" | "kind" | "channel" | "recipient" | "created_at">;

const unsent = { attempts: 0, delivered_at: null, next_attempt_at: null, last_error: null };

/** Create the approval with its first notices, or find the one a previous run of the same attempt created. */
export async function openApprovalRow(
  db: Db,
  row: typeof approvals.$inferInsert,
  notices: NewNotice[],
): Promise<ApprovalRow> {
  const [, , found] = await db.batch([
    db.insert(approvals).values(row).onConflictDoNothing(),
    insertNotices(db, notices),
    db.select().from(approvals).where(eq(approvals.id, row.id)),
  ]);
  return found[0] as ApprovalRow;
}

function insertNotices(db: Db, notices: NewNotice[]) {
  // A notice's id names its occasion (the approval, the kind, its number, the recipient): made twice, kept once.
  // A batch needs a statement even when there is nothing to insert.
  return notices.length
    ? db
        .insert(approvalNotices)
        .values(notices.map((n) => ({ ...n, ...unsent })))
        .onConflictDoNothing()
    : db
        .select({ id: approvalNotices.id })
        .from(approvalNotices)
        .where(sql`0`);
}

export async function addNotices(db: Db, notices: NewNotice[]): Promise<void> {
  if (notices.length) await insertNotices(db, notices);
}

export async function getApproval(db: Db, id: string): Promise<ApprovalRow | null> {
  const [row] = await db.select().from(approvals).where(eq(approvals.id, id));
  return row ?? null;
}

export function decisionsOf(db: Db, id: string) {
  return db
    .select()
    .from(approvalDecisions)
    .where(eq(approvalDecisions.approval_id, id))
    .orderBy(asc(approvalDecisions.decided_at), asc(approvalDecisions.approver));
}

/**
 * Record one approver's decision while the approval is pending and they are one of its approvers; an approver who
 * decided already keeps their first decision. Returns the approval and every decision, after the insert.
 */
export async function recordDecision(
  db: Db,
  d: typeof approvalDecisions.$inferInsert,
): Promise<{ approval: ApprovalRow; decisions: DecisionRow[] }> {
  await db.run(sql`INSERT INTO approval_decisions (approval_id, approver, decision, data, comment, decided_at, via, ip, user_agent)
      SELECT ${d.approval_id}, ${d.approver}, ${d.decision}, ${d.data === undefined ? null : JSON.stringify(d.data)},
        ${d.comment ?? null}, ${d.decided_at}, ${d.via}, ${d.ip ?? null}, ${d.user_agent ?? null}
      WHERE EXISTS (SELECT 1 FROM approvals a WHERE a.id = ${d.approval_id} AND a.status = 'pending'
        AND EXISTS (SELECT 1 FROM json_each(a.approvers) WHERE value = ${d.approver}))
      ON CONFLICT DO NOTHING`);
  const [rows, decisions] = await db.batch([
    db.select().from(approvals).where(eq(approvals.id, d.approval_id)),
    decisionsOf(db, d.approval_id),
  ]);
  return { approval: rows[0] as ApprovalRow, decisions };
}

/** Settle a pending approval; true for the one caller that did. */
export async function settleApproval(
  db: Db,
  id: string,
  status: Exclude<ApprovalStatus, "pending">,
  now: number,
): Promise<boolean> {
  const changed = await db
    .update(approvals)
    .set({ status, decided_at: now, next_action_at: null })
    .where(and(eq(approvals.id, id), eq(approvals.status, "pending")))
    .returning({ id: approvals.id });
  return changed.length === 1;
}

export async function markDelivered(db: Db, id: string, now: number): Promise<void> {
  await db.update(approvals).set({ delivered_at: now }).where(eq(approvals.id, id));
}

/**
 * Move a pending approval's schedule on (reminders counted, escalations applied, its approvers grown) if nobody did
 * since `seen` was read, with the notices that step owes; false when another tick or a decision came first.
 */
export async function advanceApproval(
  db: Db,
  seen: ApprovalRow,
  next: Pick<ApprovalRow, "approvers" | "reminders_sent" | "escalations" | "next_action_at">,
  notices: NewNotice[],
): Promise<boolean> {
  const [changed] = await db.batch([
    db
      .update(approvals)
      .set(next)
      .where(
        and(
          eq(approvals.id, seen.id),
          eq(approvals.status, "pending"),
          eq(approvals.reminders_sent, seen.reminders_sent),
          eq(approvals.escalations, seen.escalations),
        ),
      )
      .returning({ id: approvals.id }),
    insertNotices(db, notices),
  ]);
  return changed.length === 1;
}

export function dueApprovals(db: Db, now: number, limit: number) {
  return db
    .select()
    .from(approvals)
    .where(and(eq(approvals.status, "pending"), lte(approvals.next_action_at, now)))
    .orderBy(asc(approvals.next_action_at))
    .limit(limit);
}

/** Settled approvals whose result the execution has not accepted, settled before `before` (not one in flight). */
export function undeliveredApprovals(db: Db, before: number, limit: number) {
  return db
    .select()
    .from(approvals)
    .where(and(isNull(approvals.delivered_at), lt(approvals.decided_at, before)))
    .limit(limit);
}

export function noticesOf(db: Db, approvalId: string) {
  return db
    .select()
    .from(approvalNotices)
    .where(eq(approvalNotices.approval_id, approvalId))
    .orderBy(asc(approvalNotices.created_at), asc(approvalNotices.id));
}

/** An approval's notices not tried yet: the ones the request that made them sends at once. */
export function untriedNotices(db: Db, approvalId: string) {
  return db
    .select()
    .from(approvalNotices)
    .where(
      and(
        eq(approvalNotices.approval_id, approvalId),
        isNull(approvalNotices.delivered_at),
        eq(approvalNotices.attempts, 0),
      ),
    )
    .orderBy(asc(approvalNotices.created_at), asc(approvalNotices.id));
}

/** Notices never tried (made by another request that did not get to send them) or due for another try. */
export function dueNotices(db: Db, now: number, limit: number) {
  return db
    .select()
    .from(approvalNotices)
    .where(
      and(
        isNull(approvalNotices.delivered_at),
        sql`(${approvalNotices.next_attempt_at} <= ${now} OR (${approvalNotices.attempts} = 0 AND ${approvalNotices.created_at} < ${now - 30_000}))`,
      ),
    )
    .limit(limit);
}

export async function saveNoticeAttempt(
  db: Db,
  id: string,
  set: Pick<NoticeRow, "attempts" | "delivered_at" | "next_attempt_at" | "last_error">,
): Promise<void> {
  await db.update(approvalNotices).set(set).where(eq(approvalNotices.id, id));
}

/** The inbox: a tenant's approvals, newest first, by status and by who may decide. */
export function listApprovals(
  db: Db,
  tenantId: string,
  q: { assignee?: string | undefined; status?: ApprovalStatus | undefined; execution_id?: string | undefined },
  limit: number,
  before: number | null,
) {
  return db
    .select()
    .from(approvals)
    .where(
      and(
        eq(approvals.tenant_id, tenantId),
        q.status ? eq(approvals.status, q.status) : undefined,
        q.execution_id ? eq(approvals.execution_id, q.execution_id) : undefined,
        q.assignee
          ? sql`EXISTS (SELECT 1 FROM json_each(${approvals.approvers}) WHERE value = ${q.assignee})`
          : undefined,
        before === null ? undefined : lt(approvals.created_at, before),
      ),
    )
    .orderBy(desc(approvals.created_at))
    .limit(limit);
}

export function decisionsOfMany(db: Db, ids: string[]) {
  return ids.length
    ? db
        .select()
        .from(approvalDecisions)
        .where(inArray(approvalDecisions.approval_id, ids))
        .orderBy(asc(approvalDecisions.decided_at), asc(approvalDecisions.approver))
    : Promise.resolve([] as DecisionRow[]);
}

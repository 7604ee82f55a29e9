// The approvals' clock: each tick applies what is due (escalations, one reminder, the timeout), resends results an
// execution has not accepted, and retries notices that failed. Idempotent: a notice's id names its occasion and every
// change is conditional on the row a tick read.
import type { Db } from "../db/client";
import * as repo from "../db/approvals-repo";
import { dueActions } from "../engine/approval";
import { deliverNotices, sendNotice } from "../services/approval-notices";
import { cancelIfRunEnded, deliverResult, noticesFor, planOf } from "../services/approvals";

const BATCH = 200;
/** A result settled this recently is still being delivered by the request that settled it. */
const DELIVERY_GRACE_MS = 30_000;

export async function runApprovals(env: Env, db: Db, now: number) {
  const failed: unknown[] = [];
  let advanced = 0;
  let timedOut = 0;
  let cancelled = 0;
  for (const a of await repo.dueApprovals(db, now, BATCH)) {
    try {
      const step = await advance(env, db, a, now);
      if (step === "timed_out") timedOut++;
      else if (step === "cancelled") cancelled++;
      else if (step === "advanced") advanced++;
    } catch (err) {
      failed.push(new Error(`approval ${a.id}: ${String(err)}`));
    }
  }
  let delivered = 0;
  for (const a of await repo.undeliveredApprovals(db, now - DELIVERY_GRACE_MS, BATCH)) {
    try {
      await deliverResult(env, db, a);
      delivered++;
    } catch (err) {
      failed.push(err);
    }
  }
  let retried = 0;
  for (const n of await repo.dueNotices(db, now, BATCH)) {
    const a = await repo.getApproval(db, n.approval_id);
    if (!a) continue;
    await sendNotice(env, db, a, n, now).catch((err: unknown) => failed.push(err));
    retried++;
  }
  return { advanced, timed_out: timedOut, cancelled, delivered, notices_retried: retried, failed };
}

async function advance(env: Env, db: Db, a: repo.ApprovalRow, now: number) {
  // Nobody is reminded of a run that has ended.
  if (await cancelIfRunEnded(env, db, a, now)) return "cancelled";
  const due = dueActions(planOf(a), now);
  if (due.timed_out) {
    if (!(await repo.settleApproval(db, a.id, "timed_out", now))) return "raced";
    const done = { ...a, status: "timed_out" as const, decided_at: now, next_action_at: null };
    await repo.addNotices(db, noticesFor(done, "timed_out", 0, await undecided(db, a), now));
    await deliverNotices(env, db, done, now);
    await deliverResult(env, db, done);
    return "timed_out";
  }
  const added = due.escalate.flatMap((e) => e.to).filter((who) => !a.approvers.includes(who));
  const approvers = [...a.approvers, ...new Set(added)];
  const notices = [
    ...due.escalate.flatMap((e) => noticesFor({ ...a, approvers }, "escalated", e.index, e.to, now)),
    ...(due.remind ? noticesFor({ ...a, approvers }, "reminder", due.reminders_sent, await undecided(db, a), now) : []),
  ];
  const next = {
    approvers,
    reminders_sent: due.reminders_sent,
    escalations: due.escalations,
    next_action_at: due.next_action_at,
  };
  if (!(await repo.advanceApproval(db, a, next, notices))) return "raced";
  await deliverNotices(env, db, { ...a, ...next }, now);
  return "advanced";
}

/** Approvers who have not decided yet: the ones a reminder or a timeout notice is for. */
async function undecided(db: Db, a: repo.ApprovalRow): Promise<string[]> {
  const decided = new Set((await repo.decisionsOf(db, a.id)).map((d) => d.approver));
  return a.approvers.filter((who) => !decided.has(who));
}

// Approvals: opened by an approval node, decided through a signed link or the API, moved on by the cron (reminders,
// escalations, the timeout) and settled exactly once; the settled result goes to the execution as the event its
// node waits for, and is sent again until the execution has it.
import type { Db } from "../db/client";
import * as repo from "../db/approvals-repo";
import {
  approvalNodeEvent,
  approvalResult,
  isAddress,
  nextActionAt,
  tally,
  type ApprovalOutcome,
} from "../engine/approval";
import { TERMINAL_EXECUTION } from "../engine/events";
import { validateInput } from "../engine/input";
import { executionStub, snapshotOf } from "../durable/client";
import { checkLinkKey } from "../lib/approval-link";
import { canonicalHash, sha256Hex } from "../lib/hash";
import { emailSender } from "../lib/email";
import { seal } from "../lib/secret-box";
import type { ApprovalRequest } from "../nodes/types";
import { deliverNotices, publicUrl } from "./approval-notices";

/** A node's request, and whose it is. The key is the attempt's: a re-run finds its approval, a redrive opens anew. */
export interface OpenRequest extends ApprovalRequest {
  tenantId: string;
  executionId: string;
  workflowId: string;
  nodeId: string;
}

/** Create the approval (once) and tell its approvers; what could not be sent yet is retried by the cron. */
export async function openApproval(env: Env, db: Db, r: OpenRequest): Promise<repo.ApprovalRow> {
  const id = `apr_${(await sha256Hex(`${r.executionId}:${r.key}`)).slice(0, 26)}`;
  const everyone = [...r.approvers, ...r.escalate.flatMap((e) => e.to)];
  // What is missing fails the node now, not a notice later.
  if (r.webhook || everyone.some(isAddress)) publicUrl(env);
  if (r.email && everyone.some(isAddress)) emailSender(env);
  const secret = r.webhook ? await seal(env, r.tenantId, `approval:${id}`, r.webhook.secret) : null;
  const row: repo.ApprovalRow = {
    id,
    tenant_id: r.tenantId,
    execution_id: r.executionId,
    workflow_id: r.workflowId,
    node_id: r.nodeId,
    title: r.title,
    message: r.message,
    approvers: r.approvers,
    quorum: r.quorum,
    form: r.form,
    email: r.email,
    webhook_url: r.webhook?.url ?? null,
    webhook_secret: secret ? `${secret.iv}:${secret.ciphertext}` : null,
    remind_every_ms: r.remind_every_ms,
    escalate: r.escalate,
    timeout_ms: r.timeout?.after_ms ?? null,
    timeout_action: r.timeout?.action ?? null,
    status: "pending",
    created_at: r.now,
    reminders_sent: 0,
    escalations: 0,
    next_action_at: null,
    decided_at: null,
    delivered_at: null,
  };
  row.next_action_at = nextActionAt(planOf(row));
  await checkLinkKey(env);
  const saved = await repo.openApprovalRow(db, row, noticesFor(row, "requested", 0, r.approvers, r.now));
  await deliverNotices(env, db, saved, r.now);
  return saved;
}

export function planOf(a: repo.ApprovalRow) {
  return {
    created_at: a.created_at,
    remind_every_ms: a.remind_every_ms,
    escalate: a.escalate,
    timeout: a.timeout_ms === null ? null : { after_ms: a.timeout_ms, action: a.timeout_action ?? "fail" },
    reminders_sent: a.reminders_sent,
    escalations: a.escalations,
  };
}

/** The notices one occasion owes: an email to each address among `to` (when email is on), and one webhook. */
export function noticesFor(
  a: repo.ApprovalRow,
  kind: repo.NoticeRow["kind"],
  n: number,
  to: string[],
  now: number,
): repo.NewNotice[] {
  const base = { approval_id: a.id, kind, created_at: now };
  const emails = a.email ? to.filter(isAddress) : [];
  return [
    ...emails.map((addr) => ({
      ...base,
      id: `${a.id}:${kind}:${n}:${addr}`,
      channel: "email" as const,
      recipient: addr,
    })),
    ...(a.webhook_url
      ? [{ ...base, id: `${a.id}:${kind}:${n}:webhook`, channel: "webhook" as const, recipient: null }]
      : []),
  ];
}

export type Refusal = {
  ok: false;
  status: 403 | 404 | 409 | 410 | 422;
  code: string;
  detail: string;
  errors?: unknown;
};
export type Decided = {
  ok: true;
  /** The approver had decided before: this is their first decision, and nothing changed. */
  replayed: boolean;
  /** This decision settled the approval. */
  settled: boolean;
  decision: repo.DecisionRow;
  approval: repo.ApprovalRow;
};

export interface DecisionInput {
  approver: string;
  decision: "approve" | "reject";
  data: unknown;
  comment: string | null;
  via: string;
  ip: string | null;
  user_agent: string | null;
  now: number;
}

const CLOSED: Record<string, string> = {
  approved: "was approved already",
  rejected: "was rejected already",
  timed_out: "timed out",
  cancelled: "was cancelled: its execution ended",
};

export function closed(a: repo.ApprovalRow): Refusal {
  return {
    ok: false,
    status: 410,
    code: "approval_closed",
    detail: `Approval ${a.id} ${CLOSED[a.status] ?? a.status}.`,
  };
}

/** One approver decides; the decision that completes the quorum (or makes it unreachable) settles the approval. */
export async function decide(env: Env, db: Db, a: repo.ApprovalRow, d: DecisionInput): Promise<Decided | Refusal> {
  if (a.status !== "pending") {
    const theirs = (await repo.decisionsOf(db, a.id)).find((x) => x.approver === d.approver);
    return theirs ? replay(a, theirs, d) : closed(a);
  }
  if (!a.approvers.includes(d.approver))
    return { ok: false, status: 403, code: "not_an_approver", detail: `${d.approver} is not an approver of ${a.id}.` };
  if (a.form) {
    const errors = validateInput(a.form, d.data ?? {}, "data");
    if (errors.length)
      return {
        ok: false,
        status: 422,
        code: "decision_invalid",
        detail: "The decision's data does not match the form.",
        errors,
      };
  }
  // A decision for a run that has ended would settle nothing: the approval is cancelled instead.
  if (await cancelIfRunEnded(env, db, a, d.now)) return closed({ ...a, status: "cancelled" });
  const { approval, decisions } = await repo.recordDecision(db, {
    approval_id: a.id,
    approver: d.approver,
    decision: d.decision,
    data: d.data ?? null,
    comment: d.comment,
    decided_at: d.now,
    via: d.via,
    ip: d.ip,
    user_agent: d.user_agent,
  });
  const mine = decisions.find((x) => x.approver === d.approver);
  if (!mine) return closed(approval);
  if (mine.decided_at !== d.now || mine.via !== d.via) return replay(approval, mine, d);
  const outcome = tally(approval.approvers, approval.quorum, decisions);
  let settled = false;
  if (outcome !== "pending" && (settled = await repo.settleApproval(db, a.id, outcome, d.now))) {
    const done = { ...approval, status: outcome, decided_at: d.now, next_action_at: null };
    await repo.addNotices(db, noticesFor(done, "decided", 0, [], d.now));
    await deliverNotices(env, db, done, d.now);
    await deliverResult(env, db, done);
  }
  const fresh = (await repo.getApproval(db, a.id)) ?? approval;
  return { ok: true, replayed: false, settled, decision: mine, approval: fresh };
}

function replay(a: repo.ApprovalRow, theirs: repo.DecisionRow, d: DecisionInput): Decided | Refusal {
  if (theirs.decision !== d.decision)
    return {
      ok: false,
      status: 409,
      code: "already_decided",
      detail: `${d.approver} decided "${theirs.decision}" on ${new Date(theirs.decided_at).toISOString()}; a decision is final.`,
    };
  return { ok: true, replayed: true, settled: false, decision: theirs, approval: a };
}

/**
 * A pending approval whose execution has ended (cancelled, timed out) or is gone is cancelled, so its links close;
 * true when it was. The run's end does not reach D1's approvals by itself: whoever touches the approval next asks.
 */
export async function cancelIfRunEnded(env: Env, db: Db, a: repo.ApprovalRow, now: number): Promise<boolean> {
  const run = await snapshotOf(env, a.execution_id, a.tenant_id);
  if (run && !TERMINAL_EXECUTION.has(run.status)) return false;
  await repo.settleApproval(db, a.id, "cancelled", now);
  return true;
}

export function outcomeDecisions(decisions: repo.DecisionRow[]): ApprovalOutcome["decisions"] {
  return decisions.map((x) => ({
    approver: x.approver,
    decision: x.decision,
    at: new Date(x.decided_at).toISOString(),
    comment: x.comment,
    data: x.data ?? null,
  }));
}

/** Send a settled approval's result to its execution; kept undelivered (for the cron) when the object cannot be reached. */
export async function deliverResult(env: Env, db: Db, a: repo.ApprovalRow): Promise<void> {
  if (a.status === "pending") return;
  if (a.status !== "cancelled") {
    const decisions = outcomeDecisions(await repo.decisionsOf(db, a.id));
    const result = approvalResult(a.id, a.status, a.timeout_action, decisions);
    const name = approvalNodeEvent(a.node_id);
    // Keyed by the approval (a space: no client's Idempotency-Key can take it), so a delivery repeated by the cron
    // after markDelivered failed is not buffered again, where a redriven approval node would take it as its answer.
    const once = { key: `approval ${a.id}`, hash: await canonicalHash({ name, payload: result }) };
    try {
      // Accepted, or an execution that has ended or is gone: either way there is nobody left to tell.
      await executionStub(env, a.execution_id).sendEvent(a.tenant_id, name, result, once);
    } catch (err) {
      console.error(
        JSON.stringify({ level: "warn", msg: "approval result not delivered", approval_id: a.id, error: String(err) }),
      );
      return;
    }
  }
  await repo.markDelivered(db, a.id, Date.now());
}

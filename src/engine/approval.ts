// The approval node's rules, without I/O: who may decide, when a quorum is met or can no longer be, and what is due
// at a time (reminders, escalations, the timeout). The cron applies what is due (src/cron/approvals.ts) and a
// decision applies the tally (src/db/approvals-repo.ts does it in one D1 transaction).
import { z } from "zod";
import { emailAddress } from "./email-address";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_MS = 365 * 86_400_000;

/** "90s", "30m", "4h", "7d", or milliseconds as a number. */
export const duration = z.union([
  z.number().int().min(1000).max(MAX_MS),
  z
    .string()
    .regex(/^[1-9]\d{0,5}[smhd]$/, 'a duration like "90s", "30m", "4h" or "7d"')
    .transform((s) => Number(s.slice(0, -1)) * UNIT_MS[s.at(-1) as keyof typeof UNIT_MS])
    .pipe(z.number().min(1000, "at least 1s").max(MAX_MS, "at most 365d")),
]);

export const TIMEOUT_ACTIONS = ["approve", "reject", "fail"] as const;
export type TimeoutAction = (typeof TIMEOUT_ACTIONS)[number];
export const APPROVAL_STATUSES = ["pending", "approved", "rejected", "timed_out", "cancelled"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** An approval's schedule as stored: offsets from its creation. */
export interface ApprovalPlan {
  created_at: number;
  remind_every_ms: number | null;
  escalate: { after_ms: number; to: string[] }[];
  timeout: { after_ms: number; action: TimeoutAction } | null;
  reminders_sent: number;
  escalations: number;
}

/** What a tick at `now` owes an approval: the escalations whose time came, one reminder (never a backlog), or the end. */
export interface DueActions {
  escalate: { index: number; to: string[] }[];
  remind: boolean;
  timed_out: boolean;
  /** Reminders counted as sent after this tick (missed ones are skipped, not sent in a burst). */
  reminders_sent: number;
  /** Escalations applied after this tick. */
  escalations: number;
  next_action_at: number | null;
}

export function dueActions(p: ApprovalPlan, now: number): DueActions {
  const timeoutAt = p.timeout ? p.created_at + p.timeout.after_ms : null;
  if (timeoutAt !== null && now >= timeoutAt)
    return {
      escalate: [],
      remind: false,
      timed_out: true,
      reminders_sent: p.reminders_sent,
      escalations: p.escalations,
      next_action_at: null,
    };
  const escalate = p.escalate
    .map((e, index) => ({ index, to: e.to, at: p.created_at + e.after_ms }))
    .filter((e) => e.index >= p.escalations && e.at <= now)
    .map(({ index, to }) => ({ index, to }));
  const remindersDue = p.remind_every_ms === null ? 0 : Math.floor((now - p.created_at) / p.remind_every_ms);
  const remind = remindersDue > p.reminders_sent;
  const reminders_sent = Math.max(p.reminders_sent, remindersDue);
  const escalations = escalate.length ? (escalate.at(-1)?.index ?? 0) + 1 : p.escalations;
  return {
    escalate,
    remind,
    timed_out: false,
    reminders_sent,
    escalations,
    next_action_at: nextActionAt({ ...p, reminders_sent, escalations }),
  };
}

/** The first time after which something is owed: the next reminder, escalation or the timeout. */
export function nextActionAt(p: ApprovalPlan): number | null {
  const times: number[] = [];
  if (p.remind_every_ms !== null) times.push(p.created_at + (p.reminders_sent + 1) * p.remind_every_ms);
  const next = p.escalate[p.escalations];
  if (next) times.push(p.created_at + next.after_ms);
  const timeoutAt = p.timeout ? p.created_at + p.timeout.after_ms : null;
  if (timeoutAt !== null) times.push(timeoutAt);
  return times.length ? Math.min(...times) : null;
}

/** approved once `quorum` approve; rejected once so many reject that the rest can no longer make the quorum. */
export function tally(
  approvers: readonly string[],
  quorum: number,
  decisions: readonly { decision: "approve" | "reject" }[],
): "pending" | "approved" | "rejected" {
  const yes = decisions.filter((d) => d.decision === "approve").length;
  const no = decisions.length - yes;
  if (yes >= quorum) return "approved";
  if (no > approvers.length - quorum) return "rejected";
  return "pending";
}

/** The node's output: every decision so far, and the data of the one that settled it. */
export interface ApprovalOutcome {
  approval_id: string;
  decision: "approved" | "rejected";
  approved: boolean;
  timed_out: boolean;
  decisions: { approver: string; decision: "approve" | "reject"; at: string; comment: string | null; data: unknown }[];
  data: unknown;
}

/** What the event that ends the node's wait carries: the output, or the failure a timeout with action fail is. */
export type ApprovalResult = { ok: true; output: ApprovalOutcome } | { ok: false; code: string; message: string };

export function approvalResult(
  id: string,
  status: Exclude<ApprovalStatus, "pending" | "cancelled">,
  action: TimeoutAction | null,
  decisions: ApprovalOutcome["decisions"],
): ApprovalResult {
  if (status === "timed_out" && action === "fail")
    return { ok: false, code: "approval_timeout", message: `approval ${id}: nobody decided before the timeout` };
  const approved = status === "approved" || (status === "timed_out" && action === "approve");
  const settling = status === "timed_out" ? undefined : decisions.at(-1);
  return {
    ok: true,
    output: {
      approval_id: id,
      decision: approved ? "approved" : "rejected",
      approved,
      timed_out: status === "timed_out",
      decisions,
      data: settling?.data ?? null,
    },
  };
}

/** The event an approval node waits for: one per node, known before it runs, so an early decision is buffered. */
export const approvalNodeEvent = (nodeId: string) => `approval:${nodeId}`;

const USER_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** An approver: an address (told by email) or a user id (told by webhook and the inbox), or a template. */
export const approverRef = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (s) => s.includes("{{") || (s.includes("@") ? emailAddress.safeParse(s).success : USER_ID.test(s)),
    "must be an email address, a user id (letters, digits, _ . : -) or a {{ template }}",
  );

export const approverRefs = (max: number) => z.union([approverRef, z.array(approverRef).min(1).max(max)]);

/** The approvers once rendered, once each. */
export const approverList = (value: string | string[]): string[] => [
  ...new Set((Array.isArray(value) ? value : [value]).map((s) => s.trim())),
];

export const isAddress = (approver: string) => approver.includes("@");

/** An approval whose timeout comes after its execution's: the run would time out first, and its action never run. */
export function approvalOutlivesRun(
  config: Record<string, unknown>,
  timeoutSeconds: number,
  at: string,
): { path: string; message: string }[] {
  const after = duration.safeParse((config.timeout as { after?: unknown } | undefined)?.after);
  if (!after.success || after.data < timeoutSeconds * 1000) return [];
  return [
    {
      path: `${at}.config.timeout.after`,
      message: `the workflow's timeout_seconds (${timeoutSeconds}) ends the execution first: raise timeout_seconds above the approval's timeout`,
    },
  ];
}

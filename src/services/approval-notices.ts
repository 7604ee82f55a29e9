// What an approval tells people, by email (a message per approver with their own link) and signed webhook (one
// delivery with every pending approver's link). Each notice is an outbox row: tried at once, retried by the cron
// with the alerts' backoff, and given up after MAX_NOTICE_ATTEMPTS with its last error kept.
import type { Db } from "../db/client";
import * as repo from "../db/approvals-repo";
import { alertRetryDelay } from "../engine/monitor";
import { EmailRefused, EmailUnconfigured } from "../lib/email";
import { open } from "../lib/secret-box";
import { sendMail } from "../lib/send-mail";
import { postWebhook } from "../lib/webhook-post";
import { signLink } from "../lib/approval-link";

export const MAX_NOTICE_ATTEMPTS = 10;
/** A link is good for a week at most (a reminder brings a fresh one), and never past the approval's timeout. */
export const LINK_TTL_MS = 7 * 86_400_000;

export class ApprovalUnconfigured extends Error {
  override readonly name = "ApprovalUnconfigured";
}

/** The deployment's public origin, which links point at; without it nobody could follow one. */
export function publicUrl(env: Env): string {
  const url = env.PUBLIC_URL?.replace(/\/+$/, "");
  if (!url)
    throw new ApprovalUnconfigured("approval links need PUBLIC_URL in [vars]: the origin people reach this Worker at");
  return url;
}

export async function approvalLink(env: Env, a: repo.ApprovalRow, approver: string, now: number): Promise<string> {
  const deadline = a.timeout_ms === null ? Infinity : a.created_at + a.timeout_ms;
  const expires_at = Math.min(deadline, now + LINK_TTL_MS);
  const token = await signLink(env, {
    approval_id: a.id,
    execution_id: a.execution_id,
    node_id: a.node_id,
    approver,
    expires_at,
  });
  return `${publicUrl(env)}/approve/${token}`;
}

const ASKS = new Set(["requested", "reminder", "escalated"]);

/** Send the approval's notices nobody has tried yet (the ones the caller just made). */
export async function deliverNotices(env: Env, db: Db, a: repo.ApprovalRow, now: number): Promise<void> {
  for (const n of await repo.untriedNotices(db, a.id)) await sendNotice(env, db, a, n, now);
}

/** One try of one notice; its outcome is recorded on the row. */
export async function sendNotice(env: Env, db: Db, a: repo.ApprovalRow, n: repo.NoticeRow, now: number): Promise<void> {
  let error: string | null = null;
  let retry = true;
  if (ASKS.has(n.kind) && a.status !== "pending") {
    // Asking someone to decide what is settled would only confuse them.
    error = `not sent: the approval ${a.status === "cancelled" ? "was cancelled" : "was settled"} first`;
    retry = false;
  } else
    try {
      if (n.channel === "email") await email(env, a, n, now);
      else await webhook(env, a, n, now);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      retry = !(err instanceof EmailUnconfigured || err instanceof EmailRefused);
    }
  const attempts = n.attempts + 1;
  await repo.saveNoticeAttempt(db, n.id, {
    attempts,
    delivered_at: error ? null : now,
    next_attempt_at: error && retry && attempts < MAX_NOTICE_ATTEMPTS ? now + alertRetryDelay(attempts) : null,
    last_error: error,
  });
}

const SUBJECT: Record<repo.NoticeRow["kind"], string> = {
  requested: "Approval needed",
  reminder: "Reminder: approval needed",
  escalated: "Approval needed (escalated to you)",
  decided: "Approval decided",
  timed_out: "Approval timed out",
};

async function email(env: Env, a: repo.ApprovalRow, n: repo.NoticeRow, now: number): Promise<void> {
  const to = n.recipient as string;
  const lines = [`${a.title}`, ""];
  if (a.message) lines.push(a.message, "");
  if (ASKS.has(n.kind)) {
    const link = await approvalLink(env, a, to, now);
    lines.push(
      `Approve or reject: ${link}`,
      "",
      `The link is yours alone and works once; ${a.quorum} of ${a.approvers.length} approvers must approve.`,
    );
  } else if (n.kind === "timed_out") {
    const action = { approve: "approved it", reject: "rejected it", fail: "failed the step" }[
      a.timeout_action ?? "fail"
    ];
    lines.push(`Nobody decided in time, so the workflow ${action}.`);
  } else lines.push(`It was ${a.status}.`);
  lines.push("", `Approval: ${a.id}`, `Execution: ${a.execution_id} (step ${a.node_id})`);
  await sendMail(env, {
    to,
    subject: `${SUBJECT[n.kind]}: ${a.title}`,
    text: lines.join("\n"),
    headers: { "X-Edgeflow-Approval": a.id, "X-Edgeflow-Notice": n.kind },
  });
}

async function webhook(env: Env, a: repo.ApprovalRow, n: repo.NoticeRow, now: number): Promise<void> {
  if (!a.webhook_url || !a.webhook_secret) throw new Error("the approval has no webhook");
  const [iv = "", ciphertext = ""] = a.webhook_secret.split(":");
  const secret = await open(env, a.tenant_id, `approval:${a.id}`, { iv, ciphertext });
  const links: Record<string, string> = {};
  if (ASKS.has(n.kind)) for (const who of a.approvers) links[who] = await approvalLink(env, a, who, now);
  const body = JSON.stringify({
    type: `approval.${n.kind}`,
    at: new Date(now).toISOString(),
    approval: {
      id: a.id,
      execution_id: a.execution_id,
      workflow_id: a.workflow_id,
      node_id: a.node_id,
      title: a.title,
      message: a.message,
      approvers: a.approvers,
      quorum: a.quorum,
      status: a.status,
      timeout_action: a.timeout_action,
    },
    ...(ASKS.has(n.kind) ? { links } : {}),
  });
  await postWebhook(env, a.webhook_url, secret, n.id, body);
}

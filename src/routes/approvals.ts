import { Hono } from "hono";
import { z } from "zod";
import * as repo from "../db/approvals-repo";
import { APPROVAL_STATUSES } from "../engine/approval";
import { decodeKeyset, encodeKeyset } from "../lib/cursor";
import { readJson, readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { decide, type Decided, type Refusal } from "../services/approvals";
import { iso } from "./shared";

export const approvalsQuery = z
  .object({
    /** Approvals this approver (an address or a user id) may decide. */
    assignee: z.string().min(1).max(254).optional(),
    status: z.enum(APPROVAL_STATUSES).optional(),
    execution_id: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const decisionBody = z
  .object({
    /** The approver this decision is recorded for; they must be one of the approval's approvers. */
    as: z.string().min(1).max(254),
    decision: z.enum(["approve", "reject"]),
    data: z.unknown().optional(),
    comment: z.string().max(2000).optional(),
  })
  .strict();

/** An approval as the API shows it: never its webhook secret. */
export function approvalView(a: repo.ApprovalRow, decisions: repo.DecisionRow[], notices?: repo.NoticeRow[]) {
  return {
    id: a.id,
    status: a.status,
    title: a.title,
    message: a.message,
    execution_id: a.execution_id,
    workflow_id: a.workflow_id,
    node_id: a.node_id,
    approvers: a.approvers,
    quorum: a.quorum,
    form: a.form ?? null,
    channels: { email: a.email, webhook_url: a.webhook_url },
    remind_every_ms: a.remind_every_ms,
    escalate: a.escalate,
    timeout: a.timeout_ms === null ? null : { after_ms: a.timeout_ms, action: a.timeout_action },
    expires_at: iso(a.timeout_ms === null ? null : a.created_at + a.timeout_ms),
    created_at: iso(a.created_at),
    next_action_at: iso(a.next_action_at),
    reminders_sent: a.reminders_sent,
    escalations: a.escalations,
    decided_at: iso(a.decided_at),
    decisions: decisions.map((d) => ({
      approver: d.approver,
      decision: d.decision,
      data: d.data ?? null,
      comment: d.comment,
      decided_at: iso(d.decided_at),
      via: d.via,
      ip: d.ip,
      user_agent: d.user_agent,
    })),
    ...(notices
      ? {
          notices: notices.map((n) => ({
            id: n.id,
            kind: n.kind,
            channel: n.channel,
            recipient: n.recipient,
            created_at: iso(n.created_at),
            attempts: n.attempts,
            delivered_at: iso(n.delivered_at),
            next_attempt_at: iso(n.next_attempt_at),
            last_error: n.last_error,
          })),
        }
      : {}),
  };
}

export function refusal(r: Refusal): AppError {
  return new AppError(r.status, r.code, r.detail, r.errors ? { errors: r.errors as never } : {});
}

/** /v1/approvals: the inbox, one approval with its decisions and notices, and deciding as an approver. */
export const approvalsRoute = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = readQuery(c, approvalsQuery);
    let before: number | null = null;
    if (q.cursor) {
      const [at] = (() => {
        try {
          return decodeKeyset(q.cursor);
        } catch {
          return [null];
        }
      })();
      if (typeof at !== "number")
        throw new AppError(400, "validation_failed", "The query parameters are invalid.", {
          errors: [{ path: "cursor", message: "not a cursor this API gave" }],
        });
      before = at;
    }
    const db = c.get("db").db;
    const rows = await repo.listApprovals(db, c.get("tenantId"), q, q.limit, before);
    const decisions = await repo.decisionsOfMany(
      db,
      rows.map((r) => r.id),
    );
    const last = rows.at(-1);
    return c.json({
      data: rows.map((r) =>
        approvalView(
          r,
          decisions.filter((d) => d.approval_id === r.id),
        ),
      ),
      next_cursor: rows.length === q.limit && last ? encodeKeyset([last.created_at, last.id]) : null,
    });
  })
  .get("/:id", async (c) => {
    const db = c.get("db").db;
    const a = await repo.getApproval(db, c.req.param("id"));
    if (!a || a.tenant_id !== c.get("tenantId")) throw approvalNotFound(c.req.param("id"));
    return c.json(approvalView(a, await repo.decisionsOf(db, a.id), await repo.noticesOf(db, a.id)));
  })
  .post("/:id/decisions", async (c) => {
    const { value } = await readJson(c, decisionBody);
    const db = c.get("db").db;
    const a = await repo.getApproval(db, c.req.param("id"));
    if (!a || a.tenant_id !== c.get("tenantId")) throw approvalNotFound(c.req.param("id"));
    const done = await decide(c.env, db, a, {
      approver: value.as,
      decision: value.decision,
      data: value.data ?? null,
      comment: value.comment ?? null,
      via: `api:${c.get("apiKeyId")}`,
      ip: c.req.header("cf-connecting-ip") ?? null,
      user_agent: c.req.header("user-agent")?.slice(0, 512) ?? null,
      now: Date.now(),
    });
    if (!done.ok) throw refusal(done);
    return c.json(decidedBody(done, await repo.decisionsOf(db, a.id)), done.replayed ? 200 : 201);
  });

export function decidedBody(done: Decided, decisions: repo.DecisionRow[]) {
  const mine = approvalView(done.approval, [done.decision]).decisions[0];
  return {
    decision: mine,
    replayed: done.replayed,
    settled: done.settled,
    approval: approvalView(done.approval, decisions),
  };
}

function approvalNotFound(id: string): AppError {
  return new AppError(404, "approval_not_found", `No approval ${id} in this tenant.`);
}

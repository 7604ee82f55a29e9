import { z } from "zod";
import {
  approverList,
  approverRefs,
  approvalNodeEvent,
  duration,
  isAddress,
  TIMEOUT_ACTIONS,
} from "../engine/approval";
import { checkJsonSchema } from "../engine/input";
import { FatalError, type NodeExecutor } from "./types";

const templated = (s: string) => s.includes("{{");

const config = z
  .object({
    title: z.string().min(1).max(200),
    message: z.string().max(10_000).optional(),
    /** Who may decide: addresses (told by email) or user ids (told by webhook, found in the inbox). */
    approvers: approverRefs(50),
    /** How many must approve; once so many reject that the rest cannot reach it, the approval is rejected. */
    quorum: z.number().int().min(1).max(50).default(1),
    /** JSON Schema of what a decision carries (a reason, an edited amount); checked before it counts. */
    form: z.record(z.string(), z.unknown()).optional(),
    channels: z
      .object({
        email: z.boolean().default(true),
        /** One signed delivery (Standard Webhooks) per notice with every pending approver's link. */
        webhook: z
          .object({
            url: z.string().min(1).max(2048),
            /** A `whsec_` secret, normally `{{ secrets.name }}`. */
            secret: z.string().min(1).max(1024),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ email: true }),
    /** Remind those who have not decided, this often. */
    remind_every: duration.optional(),
    /** Add approvers once this long has passed since the request, in order. */
    escalate: z
      .array(z.object({ after: duration, to: approverRefs(20) }).strict())
      .max(5)
      .default([]),
    /** What happens when nobody settles it in time: approve, reject, or fail the node (approval_timeout). */
    timeout: z
      .object({ after: duration, action: z.enum(TIMEOUT_ACTIONS) })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (Array.isArray(c.approvers) && !c.approvers.some(templated) && c.quorum > approverList(c.approvers).length)
      ctx.addIssue({
        code: "custom",
        path: ["quorum"],
        message: `quorum ${c.quorum} is more than the ${approverList(c.approvers).length} approver(s)`,
      });
    if (c.form) {
      const bad = checkJsonSchema(c.form);
      if (bad) ctx.addIssue({ code: "custom", path: ["form"], message: bad });
    }
    c.escalate.forEach((e, i) => {
      const before = c.escalate[i - 1];
      if (before && e.after <= before.after)
        ctx.addIssue({ code: "custom", path: ["escalate", i, "after"], message: "escalations come in order of time" });
      if (c.timeout && e.after >= c.timeout.after)
        ctx.addIssue({
          code: "custom",
          path: ["escalate", i, "after"],
          message: "an escalation after the timeout never happens",
        });
    });
  });

/**
 * Ask people to decide, and wait. The approval lives in D1 (src/services/approvals.ts): links, reminders,
 * escalations and the timeout are its business; the node waits for the one event its settlement sends.
 */
export const approval: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 30_000,
  async run({ config: c, idempotencyKey, now, services }) {
    const approvers = approverList(c.approvers);
    if (c.quorum > approvers.length)
      throw new FatalError("invalid_config", `quorum ${c.quorum} is more than the ${approvers.length} approver(s)`);
    const webhook = c.channels.webhook;
    if (webhook && !/^whsec_[A-Za-z0-9+/]+=*$/.test(webhook.secret))
      throw new FatalError("invalid_config", "channels.webhook.secret must be a whsec_ secret (base64 after whsec_)");
    const opened = await services.openApproval({
      key: idempotencyKey,
      title: c.title,
      message: c.message ?? null,
      approvers,
      quorum: c.quorum,
      form: c.form ?? null,
      email: c.channels.email,
      webhook: webhook ?? null,
      remind_every_ms: c.remind_every ?? null,
      escalate: c.escalate.map((e) => ({ after_ms: e.after, to: approverList(e.to) })),
      timeout: c.timeout ? { after_ms: c.timeout.after, action: c.timeout.action } : null,
      now,
    });
    if (!opened.ok) throw new FatalError(opened.code, opened.message);
    const deadline = c.timeout ? now + c.timeout.after : null;
    return {
      wait: {
        until: null,
        event: approvalNodeEvent(services.nodeId),
        detail: {
          approval: {
            id: opened.id,
            title: c.title,
            approvers,
            quorum: c.quorum,
            expires_at: deadline === null ? null : new Date(deadline).toISOString(),
            email: c.channels.email && approvers.some(isAddress),
          },
        },
      },
    };
  },
};

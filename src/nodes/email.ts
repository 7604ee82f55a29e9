import { z } from "zod";
import { emailAddress, emailRecipient, emailRecipients } from "../engine/email-address";
import { EmailRefused, EmailUnconfigured } from "../lib/email";
import { FatalError, RetryableError, type NodeExecutor } from "./types";

const config = z
  .object({
    /** One message per address (nobody sees the others); a template may yield one address or a list. */
    to: emailRecipients(50),
    subject: z.string().min(1).max(998),
    text: z
      .string()
      .min(1)
      .max(1024 * 1024),
    html: z
      .string()
      .max(1024 * 1024)
      .optional(),
    reply_to: emailRecipient.optional(),
  })
  .strict();

/**
 * Send an email through the send_email binding. Each recipient's send is a durable step: a retry or a crash re-run
 * sends only to those not yet sent to, so nobody gets the message twice from one node.
 */
export const email: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 30_000,
  async run({ config: c, idempotencyKey, services }) {
    const to = recipients(c.to);
    const replyTo = c.reply_to === undefined ? undefined : recipients(c.reply_to, "reply_to")[0];
    const steps = services.steps(idempotencyKey);
    const sent: { to: string; message_id: string }[] = [];
    for (const addr of to) {
      const done = steps.get(`sent:${addr}`) as string | undefined;
      if (done !== undefined) {
        sent.push({ to: addr, message_id: done });
        continue;
      }
      let id: string;
      try {
        id = await services.sendMail({ to: addr, subject: c.subject, text: c.text, html: c.html, replyTo });
      } catch (err) {
        if (err instanceof EmailUnconfigured) throw new FatalError("email_unconfigured", err.message);
        if (err instanceof EmailRefused) throw new FatalError("email_refused", err.message);
        throw new RetryableError("email_failed", `email to ${addr}: ${err instanceof Error ? err.message : err}`);
      }
      steps.put(`sent:${addr}`, id);
      sent.push({ to: addr, message_id: id });
    }
    return { ok: true, output: { subject: c.subject, sent } };
  },
};

/** The rendered recipients, each checked (a template may have yielded anything), once each. */
export function recipients(value: string | string[], field = "to"): string[] {
  const list = (Array.isArray(value) ? value : [value]).map((a) => a.trim());
  const bad = list.filter((a) => !emailAddress.safeParse(a).success);
  if (bad.length)
    throw new FatalError(
      "invalid_address",
      `${field}: ${bad.map((b) => JSON.stringify(b)).join(", ")} is not an email address`,
    );
  return [...new Set(list)];
}

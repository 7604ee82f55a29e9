import { z } from "zod";
import { emailRecipient, emailRecipients } from "../engine/email-address";
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
 * Send an email through the send_email binding. Each recipient's send is recorded as a durable step of the attempt,
 * and a re-run of the attempt skips the addresses recorded (no test forces a partial failure: miniflare's binding
 * has no retryable one).
 */
export const email: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 30_000,
  async run({ config: c, idempotencyKey, services }) {
    const to = recipients(c.to);
    const replyTo = c.reply_to === undefined ? undefined : recipients(c.reply_to)[0];
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

/**
 * The rendered recipients as a list, once each. Each was checked as an address when the rendered config was parsed
 * (emailRecipient), so nothing is checked again here.
 */
export function recipients(value: string | string[]): string[] {
  return [...new Set(Array.isArray(value) ? value : [value])];
}

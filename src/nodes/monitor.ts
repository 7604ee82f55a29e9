import { z } from "zod";
import { alertSchema, checkSchema, expectSchema } from "../engine/monitor";
import { emailRecipients } from "../engine/email-address";
import { emailSender, EmailUnconfigured } from "../lib/email";
import { sha256Hex } from "../lib/hash";
import { allowedHosts, checkUrl } from "../lib/ssrf";
import { newWebhookSecret } from "../lib/webhooks";
import { sealWebhookSecret, SecretsUnconfigured } from "../lib/secret-box";
import { recipients } from "./email";
import { FatalError, type NodeExecutor } from "./types";

const templated = z.string().regex(/^\{\{[\s\S]+\}\}$/, "must be a number or a {{ template }}");
const int = (min: number, max: number) => z.union([z.number().int().min(min).max(max), templated]);

const config = z
  .object({
    name: z.string().min(1).max(200),
    url: z.string().min(1).max(2048),
    expect_status: z.number().int().min(100).max(599).optional(),
    interval_seconds: int(60, 30 * 86_400),
    failure_threshold: int(1, 100).default(3),
    recovery_threshold: int(1, 100).default(1),
    /** Checks in a row that cannot see (blocked, rate-limited) before monitor.unreachable; never counted as down. */
    unreachable_threshold: int(1, 100).default(3),
    /** Sent with every check (a User-Agent for a site that refuses unnamed clients). */
    headers: z.record(z.string().min(1).max(256), z.string().max(4096)).optional(),
    /** An OAuth2 connection (PUT /v1/connections/:name) whose bearer token goes with every check. */
    connection: z.string().min(1).max(64).optional(),
    /** Where alerts go: a signed webhook, email addresses (one message each), or both; one of them is required. */
    webhook_url: z.string().min(1).max(2048).optional(),
    alert_email: emailRecipients(20).optional(),
    cooldown_seconds: int(0, 30 * 86_400).default(3600),
    /** The Standard Webhooks signing secret, usually "{{ secrets.NAME }}"; a fresh one when absent. */
    webhook_secret: z.string().min(1).max(200).optional(),
    /** Assertions on the response body, as for POST /v1/monitors (a removed post still answers 200). */
    expect: expectSchema.optional(),
    /** ISO time after which the monitor is checked no more (and retention deletes it); a template is fine. */
    expires_at: z.string().min(1).max(512).optional(),
    allow_duplicate: z.boolean().default(false),
  })
  .strict();

const rendered = z.object({
  interval_seconds: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86_400),
  failure_threshold: z.coerce.number().int().min(1).max(100),
  recovery_threshold: z.coerce.number().int().min(1).max(100),
  unreachable_threshold: z.coerce.number().int().min(1).max(100),
  cooldown_seconds: z.coerce
    .number()
    .int()
    .min(0)
    .max(30 * 86_400),
});

/**
 * Built-in action: register an http monitor for the execution's tenant (no API key in the workflow). The monitor id
 * derives from the attempt's idempotency key, so an attempt re-run after a crash finds the monitor it made.
 */
export const createMonitor: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 10_000,
  async run({ config: c, idempotencyKey, services, now }) {
    const numbers = rendered.safeParse(c);
    if (!numbers.success)
      throw new FatalError(
        "invalid_config",
        numbers.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
      );
    const check = checkSchema.safeParse({
      kind: "http",
      url: c.url,
      ...(c.expect_status ? { expect_status: c.expect_status } : {}),
      ...(c.expect ? { expect: c.expect } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
      ...(c.connection ? { connection: c.connection } : {}),
    });
    const email = c.alert_email === undefined ? undefined : recipients(c.alert_email);
    if (email) {
      try {
        emailSender(services.env);
      } catch (err) {
        if (err instanceof EmailUnconfigured) throw new FatalError("email_unconfigured", err.message);
        throw err;
      }
    }
    const alert = alertSchema.safeParse({
      ...(c.webhook_url !== undefined ? { webhook_url: c.webhook_url } : {}),
      ...(email ? { email } : {}),
      cooldown_seconds: numbers.data.cooldown_seconds,
    });
    if (!check.success || !alert.success)
      throw new FatalError(
        "invalid_config",
        [...(check.error?.issues ?? []), ...(alert.error?.issues ?? [])]
          .map((i) => `${i.path.join(".") || "config"}: ${i.message}`)
          .join("; "),
      );
    for (const u of c.webhook_url === undefined ? [c.url] : [c.url, c.webhook_url]) {
      const vetted = checkUrl(u, allowedHosts(services.env));
      if (!vetted.ok) throw new FatalError("ssrf_refused", vetted.reason);
    }
    const id = `mon_${(await sha256Hex(`${services.tenantId}:${idempotencyKey}`)).slice(0, 26).toUpperCase()}`;
    let secret: string;
    try {
      secret = await sealWebhookSecret(services.env, services.tenantId, id, c.webhook_secret ?? newWebhookSecret());
    } catch (err) {
      if (err instanceof SecretsUnconfigured) throw new FatalError("secrets_unconfigured", err.message, { cause: err });
      throw err;
    }
    const expiresAt = c.expires_at === undefined ? null : Date.parse(c.expires_at);
    if (expiresAt !== null && Number.isNaN(expiresAt))
      throw new FatalError("invalid_config", `expires_at "${c.expires_at}" is not an ISO 8601 time`);
    const made = await services.createMonitor(
      {
        id,
        name: c.name,
        check: check.data,
        interval_seconds: numbers.data.interval_seconds,
        failure_threshold: numbers.data.failure_threshold,
        recovery_threshold: numbers.data.recovery_threshold,
        unreachable_threshold: numbers.data.unreachable_threshold,
        alert: alert.data,
        secret,
        expires_at: expiresAt,
        now,
      },
      c.allow_duplicate,
    );
    if (!made.ok) throw new FatalError(made.code, made.message);
    // The signing secret never goes into an output (outputs are stored and streamed): set it with webhook_secret (from
    // a tenant secret) or get a new one with POST /v1/monitors/:id/secret.
    return { ok: true, output: { monitor_id: made.id, next_check_at: new Date(made.next_check_at).toISOString() } };
  },
};

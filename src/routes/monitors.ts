import { Hono, type Context } from "hono";
import { z } from "zod";
import * as cron from "../db/cron-repo";
import { alertSchema, checkSchema } from "../engine/monitor";
import { newId } from "../lib/ids";
import { allowedHosts, checkUrl } from "../lib/ssrf";
import { newWebhookSecret } from "../lib/webhooks";
import { emailSender, EmailUnconfigured } from "../lib/email";
import { getConnection } from "../db/connections-repo";
import { getWorkflow } from "../db/repo";
import { openWebhookSecret, sealWebhookSecret, SecretsUnconfigured } from "../lib/secret-box";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { idempotentCreate } from "../services/idempotent-create";
import { canonicalHash } from "../lib/hash";
import { refusal } from "./refusals";
import { registerMonitor } from "../services/monitors";
import { created, idempotencyKeyOf, iso } from "./shared";

const fields = {
  name: z.string().min(1).max(200),
  check: checkSchema,
  interval_seconds: z
    .number()
    .int()
    .min(60)
    .max(30 * 86_400),
  failure_threshold: z.number().int().min(1).max(100),
  recovery_threshold: z.number().int().min(1).max(100),
  /** Checks in a row that cannot see (blocked, rate-limited, unreachable) before monitor.unreachable. */
  unreachable_threshold: z.number().int().min(1).max(100),
  alert: alertSchema,
  enabled: z.boolean(),
  /** After this the monitor is checked no more, and retention deletes it. */
  expires_at: z.iso
    .datetime({ offset: true })
    .transform((v) => Date.parse(v))
    .nullable(),
};
export const monitorCreate = z
  .object({
    ...fields,
    failure_threshold: fields.failure_threshold.default(3),
    recovery_threshold: fields.recovery_threshold.default(1),
    unreachable_threshold: fields.unreachable_threshold.default(3),
    enabled: fields.enabled.default(true),
    expires_at: fields.expires_at.optional(),
    /** Register even when the tenant already has a monitor on this same check. */
    allow_duplicate: z.boolean().default(false),
  })
  .strict();
export const monitorPatch = z.object(fields).partial().strict();

function view(m: cron.MonitorRow) {
  return {
    id: m.id,
    name: m.name,
    check: m.check,
    interval_seconds: m.interval_seconds,
    failure_threshold: m.failure_threshold,
    recovery_threshold: m.recovery_threshold,
    unreachable_threshold: m.unreachable_threshold,
    alert: m.alert,
    enabled: m.enabled,
    status: m.status,
    consecutive_failures: m.consecutive_failures,
    consecutive_unreachable: m.consecutive_unreachable,
    consecutive_successes: m.consecutive_successes,
    next_check_at: iso(m.next_check_at),
    last_checked_at: iso(m.last_checked_at),
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    expires_at: iso(m.expires_at),
    acknowledgement_execution_id: m.ack_execution_id,
  };
}

function duplicateOf(monitorId: string) {
  const message = `Monitor ${monitorId} already checks this; send allow_duplicate: true to register another.`;
  const refused = { code: "monitor_exists" as const, message, monitor_id: monitorId, retryable: false };
  return refusal(refused);
}

/**
 * Refuse private, loopback and metadata targets for checks and alert webhooks when they are saved, and email alerts
 * where email is off (they could never be delivered).
 */
function vetTargets(
  env: Env,
  value: {
    check?: { kind: string; url?: string } | undefined;
    alert?: { webhook_url?: string | undefined; email?: string[] | undefined } | undefined;
  },
): void {
  if (value.alert?.email) {
    try {
      emailSender(env);
    } catch (err) {
      if (err instanceof EmailUnconfigured)
        throw new AppError(503, "email_unconfigured", `alert.email cannot be delivered here: ${err.message}.`);
      throw err;
    }
  }
  const allowed = allowedHosts(env);
  const webhook = value.alert?.webhook_url;
  const errors = [
    ...(value.check?.kind === "http" && value.check.url ? [["check.url", value.check.url] as const] : []),
    ...(webhook ? [["alert.webhook_url", webhook] as const] : []),
  ].flatMap(([path, url]) => {
    const vetted = checkUrl(url, allowed);
    return vetted.ok ? [] : [{ path, message: vetted.reason }];
  });
  if (errors.length) throw new AppError(400, "validation_failed", "The monitor is invalid.", { errors });
}

/**
 * An acknowledge workflow must be the tenant's and ask someone: without an approval node, nobody would be asked to
 * acknowledge anything (422 acknowledge_invalid).
 */
async function vetAcknowledge(
  db: Parameters<typeof getWorkflow>[0],
  tenantId: string,
  alert: { acknowledge?: { workflow_id: string } | undefined } | undefined,
): Promise<void> {
  const id = alert?.acknowledge?.workflow_id;
  if (id === undefined) return;
  const wf = await getWorkflow(db, tenantId, id, null);
  const asks = (wf?.definition as { nodes?: { kind: string }[] } | undefined)?.nodes?.some(
    (n) => n.kind === "approval",
  );
  if (wf && asks) return;
  throw new AppError(
    422,
    "acknowledge_invalid",
    wf ? `Workflow ${id} has no approval node to ask with.` : `No workflow ${id} in this tenant.`,
    { errors: [{ path: "alert.acknowledge.workflow_id", message: wf ? "has no approval node" : "no such workflow" }] },
  );
}

/** A check that names a connection the tenant does not have could never see its site: refused when saved. */
async function vetConnection(
  db: Parameters<typeof getConnection>[0],
  tenantId: string,
  check: { kind: string; connection?: string | undefined } | undefined,
): Promise<void> {
  const name = check?.kind === "http" ? check.connection : undefined;
  if (name === undefined || (await getConnection(db, tenantId, name))) return;
  throw new AppError(
    422,
    "connection_not_found",
    `No connection named ${name}; create it with PUT /v1/connections/${name}.`,
    {
      errors: [{ path: "check.connection", message: `no connection named ${name}` }],
    },
  );
}

function notFound(id: string): AppError {
  return new AppError(404, "monitor_not_found", `Monitor ${id} does not exist.`);
}

async function sealed(c: Context<AppEnv>, monitorId: string, secret: string): Promise<string> {
  try {
    return await sealWebhookSecret(c.env, c.get("tenantId"), monitorId, secret);
  } catch (err) {
    if (err instanceof SecretsUnconfigured)
      throw new AppError(
        503,
        "secrets_unconfigured",
        `Monitors sign alerts with a secret kept encrypted: ${err.message}.`,
      );
    throw err;
  }
}

/** /v1/monitors: checks on an interval with threshold-based up/down and signed webhook alerts. */
export const monitors = new Hono<AppEnv>()
  .post("/", async (c) => {
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, monitorCreate);
    vetTargets(c.env, value);
    const db = c.get("db").db;
    const tenantId = c.get("tenantId");
    await vetConnection(db, tenantId, value.check);
    await vetAcknowledge(db, tenantId, value.alert);
    const result = await idempotentCreate(
      db,
      { tenantId, scope: "monitor", key, request: value, id: newId("mon") },
      async (id) => {
        const now = Date.now();
        const secret = newWebhookSecret();
        const { allow_duplicate: allowDuplicate, expires_at: expiresAt, ...fieldsOf } = value;
        const registered = await registerMonitor(
          db,
          { id, tenant_id: tenantId, ...fieldsOf, expires_at: expiresAt ?? null, secret: await sealed(c, id, secret) },
          now,
          allowDuplicate,
        );
        if (!registered.ok) throw refusal(registered);
        return registered.created ? { ...view(registered.row), webhook_secret: secret } : null;
      },
      // A replay is for a client that lost the first answer: it gets the signing secret again, or it never could.
      async (id) => {
        const row = await cron.getMonitor(db, tenantId, id);
        return row && { ...view(row), webhook_secret: await openWebhookSecret(c.env, tenantId, id, row.secret) };
      },
    );
    // The signing secret is shown here only (and to a replay of this request); verify alerts with it (Standard
    // Webhooks).
    return created(c, result, (id) => `/v1/monitors/${id}`);
  })
  .post("/:id/secret", async (c) => {
    // A new signing secret, shown once (the old one stops verifying): also how a create_monitor node's monitor gets
    // one.
    const id = c.req.param("id");
    const secret = newWebhookSecret();
    const row = await cron.updateMonitor(c.get("db").db, c.get("tenantId"), id, {
      secret: await sealed(c, id, secret),
      updated_at: Date.now(),
    });
    if (!row) throw notFound(id);
    return c.json({ id: row.id, webhook_secret: secret });
  })
  .get("/", async (c) => c.json({ data: (await cron.listMonitors(c.get("db").db, c.get("tenantId"))).map(view) }))
  .get("/:id", async (c) => {
    const row = await cron.getMonitor(c.get("db").db, c.get("tenantId"), c.req.param("id"));
    if (!row) throw notFound(c.req.param("id"));
    return c.json(view(row));
  })
  .patch("/:id", async (c) => {
    const { value } = await readJson(c, monitorPatch);
    vetTargets(c.env, value);
    const db = c.get("db").db;
    await vetConnection(db, c.get("tenantId"), value.check);
    await vetAcknowledge(db, c.get("tenantId"), value.alert);
    const id = c.req.param("id");
    const patch: Partial<cron.MonitorRow> = { ...value, updated_at: Date.now() };
    if (value.check) {
      // A new check keeps the rule of one monitor per check (unless this one was registered as a duplicate).
      const current = await cron.getMonitor(db, c.get("tenantId"), id);
      if (!current) throw notFound(id);
      if (current.check_hash !== null) {
        patch.check_hash = await canonicalHash(value.check);
        const other = await cron.findMonitorByCheck(db, c.get("tenantId"), patch.check_hash);
        if (other && other.id !== id) throw duplicateOf(other.id);
      }
    }
    const row = await cron.updateMonitor(db, c.get("tenantId"), id, patch).catch((err: unknown) => {
      // Another request took the same check in between: the unique index says so.
      if (String(err).includes("UNIQUE"))
        throw new AppError(409, "monitor_exists", "Another monitor already checks this.");
      throw err;
    });
    if (!row) throw notFound(id);
    return c.json(view(row));
  })
  .delete("/:id", async (c) => {
    if (!(await cron.deleteMonitor(c.get("db").db, c.get("tenantId"), c.req.param("id"))))
      throw notFound(c.req.param("id"));
    return c.body(null, 204);
  })
  .get("/:id/checks", async (c) => {
    const db = c.get("db").db;
    const row = await cron.getMonitor(db, c.get("tenantId"), c.req.param("id"));
    if (!row) throw notFound(c.req.param("id"));
    const checks = await cron.listChecks(db, row.id, 200);
    return c.json({
      data: checks.map((k) => ({
        at: iso(k.at),
        ok: k.ok,
        outcome: k.outcome ?? (k.ok ? "up" : null),
        latency_ms: k.latency_ms,
        error: k.error,
      })),
    });
  })
  .get("/:id/alerts", async (c) => {
    const db = c.get("db").db;
    const row = await cron.getMonitor(db, c.get("tenantId"), c.req.param("id"));
    if (!row) throw notFound(c.req.param("id"));
    const list = await cron.listAlerts(db, row.id, 100);
    return c.json({
      data: list.map((a) => ({
        id: a.id,
        kind: a.kind,
        channel: a.channel,
        created_at: iso(a.created_at),
        sent_at: iso(a.sent_at),
        attempts: a.attempts,
        delivered_at: iso(a.delivered_at),
        next_attempt_at: iso(a.next_attempt_at),
        last_error: a.last_error,
      })),
    });
  });

// One monitor check, start to end: run it (http with headers and a connection's token, or a workflow run), fold the
// outcome into the monitor's state, and record the check with the alerts it raises (one per channel) in one batch.
// Run by the checker objects the cron tick fans out to (src/durable/checker.ts).
import type { Db } from "../db/client";
import { lastAlertAt, recordCheck, type AlertRow, type MonitorRow } from "../db/cron-repo";
import { settledOf } from "../durable/client";
import { startExecution } from "./start";
import { connectionToken } from "./connections";
import { acknowledgement } from "./monitor-ack";
import {
  alertChannels,
  alertSchema,
  applyCheck,
  checkSchema,
  cooldownAllows,
  failedExpectations,
  unreachableStatus,
  type CheckOutcome,
  type MonitorStatus,
} from "../engine/monitor";
import { newId } from "../lib/ids";
import { allowedHosts, guardedFetch } from "../lib/ssrf";
import { readCapped } from "../lib/stream";
import { childTraceparent, traceIdFrom } from "../lib/trace";

/** Checks in flight at once in one checker object: enough to hide slow targets, few enough for one isolate. */
export const CHECKS_IN_FLIGHT_PER_OBJECT = 25;
/** The longest one check may take (an http check's timeout_ms, a workflow check's wait). */
export const MAX_CHECK_MS = 60_000;

// A body the content assertions read is capped: a page that large is not what a check is for.
const MAX_CHECK_BODY_BYTES = 1024 * 1024;

export async function checkOne(env: Env, db: Db, m: MonitorRow, now: number): Promise<void> {
  const started = Date.now();
  const result = await runCheck(env, db, m).catch((err: unknown): CheckResult => ({
    outcome: "unreachable",
    error: `check crashed: ${err instanceof Error ? err.message : String(err)}`,
  }));
  const latency = Date.now() - started;
  // Times recorded are the tick's (injected) time; only the latency comes from the wall clock.
  const at = now;
  const next = applyCheck(
    {
      status: m.status as MonitorStatus,
      consecutive_failures: m.consecutive_failures,
      consecutive_successes: m.consecutive_successes,
      consecutive_unreachable: m.consecutive_unreachable,
    },
    result.outcome,
    m,
  );
  const alerts: AlertRow[] = [];
  const target = alertSchema.parse(m.alert);
  const payload = {
    type: `monitor.${next.transition}`,
    monitor: { id: m.id, name: m.name },
    at: new Date(at).toISOString(),
    error: result.error ?? null,
    consecutive_failures: next.consecutive_failures,
    consecutive_unreachable: next.consecutive_unreachable,
  };
  if (next.transition) {
    // Per kind: a recovery is news even right after a down alert, so it is never swallowed by that one's cooldown.
    // One cooldown for all channels: the webhook and the email of one transition go out together or not at all.
    if (cooldownAllows(await lastAlertAt(db, m.id, next.transition), now, target.cooldown_seconds)) {
      for (const channel of alertChannels(target))
        alerts.push({
          id: newId("msg"),
          monitor_id: m.id,
          kind: next.transition,
          channel,
          payload,
          created_at: at,
          sent_at: null,
          attempts: 0,
          delivered_at: null,
          next_attempt_at: at,
          last_error: null,
        });
    }
  }
  const { transition: _transition, ...state } = next;
  await recordCheck(
    db,
    {
      id: newId("chk"),
      monitor_id: m.id,
      at,
      ok: result.outcome === "up",
      outcome: result.outcome,
      latency_ms: latency,
      error: result.error ?? null,
    },
    state,
    alerts,
  );
  // After the check is recorded: a failure to start the run leaves the monitor's state right.
  if (next.transition)
    await acknowledgement(env, db, m, next.transition, payload, target.acknowledge?.workflow_id, now).catch(
      (err: unknown) =>
        console.error(
          JSON.stringify({ level: "error", msg: "monitor acknowledgement", monitor_id: m.id, error: String(err) }),
        ),
    );
}

interface CheckResult {
  outcome: CheckOutcome;
  error?: string;
}

async function runCheck(env: Env, db: Db, m: MonitorRow): Promise<CheckResult> {
  const check = checkSchema.parse(m.check);
  if (check.kind === "workflow") {
    const started = await startExecution(env, db, {
      tenantId: m.tenant_id,
      workflowId: check.workflow_id,
      input: check.input ?? null,
      requestForHash: null,
    });
    // A run that could not start saw nothing; a run that ended badly is the workflow saying no.
    if (!started.ok)
      return {
        outcome: "unreachable",
        error: `workflow ${check.workflow_id} could not start: ${started.code}: ${started.message}`,
      };
    const view = await settledOf(env, started.id, m.tenant_id, check.timeout_ms);
    if (view?.status === "succeeded") return { outcome: "up" };
    return {
      outcome: view?.status === "failed" ? "gone" : "unreachable",
      error: `workflow run ${started.id} ${view?.status ?? "vanished"}${view?.error ? `: ${view.error.message}` : ""}`,
    };
  }
  const connection = check.connection;
  const send = (token: string | null) =>
    guardedFetch(
      check.url,
      {
        method: check.method,
        // Each check is its own trace, so a slow check can be followed into the checked service.
        headers: {
          ...check.headers,
          traceparent: childTraceparent(traceIdFrom(null)),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        signal: AbortSignal.timeout(check.timeout_ms),
      },
      allowedHosts(env),
    );
  let res: Response;
  try {
    let token: string | null = null;
    if (connection) {
      const got = await connectionToken(env, db, m.tenant_id, connection);
      // Without a token the check cannot see the site: that says nothing of the post.
      if (!got.ok) return { outcome: "unreachable", error: got.message };
      token = got.access_token;
    }
    res = await send(token);
    if (res.status === 401 && connection && token && check.method !== "POST") {
      await res.body?.cancel();
      const got = await connectionToken(env, db, m.tenant_id, connection, token);
      if (!got.ok) return { outcome: "unreachable", error: got.message };
      res = await send(got.access_token);
    }
  } catch (err) {
    return {
      outcome: "unreachable",
      error:
        err instanceof Error && err.name === "TimeoutError" ? `no answer within ${check.timeout_ms} ms` : String(err),
    };
  }
  const statusOk =
    check.expect_status !== undefined ? res.status === check.expect_status : res.status >= 200 && res.status < 300;
  if (!check.expect || !statusOk) {
    await res.body?.cancel();
    if (statusOk) return { outcome: "up" };
    const retry = res.headers.get("retry-after");
    const error = `HTTP ${res.status}${retry ? ` (Retry-After: ${retry})` : ""}`;
    return { outcome: unreachableStatus(res.status) ? "unreachable" : "gone", error };
  }
  let bytes: Uint8Array | null;
  try {
    bytes = await readCapped(res.body, MAX_CHECK_BODY_BYTES);
  } catch (err) {
    return { outcome: "unreachable", error: `the body could not be read: ${String(err)}` };
  }
  if (!bytes) return { outcome: "gone", error: `expect: the body is over ${MAX_CHECK_BODY_BYTES} bytes` };
  const failed = await failedExpectations(check.expect, new TextDecoder().decode(bytes));
  return failed.length ? { outcome: "gone", error: `expect: ${failed.join("; ")}` } : { outcome: "up" };
}

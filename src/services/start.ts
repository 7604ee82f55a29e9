// The one start pipeline: read (one D1 batch), decide (decideStart, pure), perform (performStart: admission in one
// TenantObject call, the object's start, the Idempotency-Key claim closed), in that order. The API's single and batch
// starts read with the caller's key in the same batch (src/routes/start.ts); every internal start (schedules,
// monitors, child executions, conversation turns) comes through startExecution below.
import type { Db } from "../db/client";
import { closeClaims, readStart, releaseClaims, type ClaimRow, type StartReads } from "../db/start-reads";
import { concurrencyKeyOf, type Admitted, type QueueAsk } from "../engine/concurrency-key";
import {
  claimToGiveBack,
  decideStart,
  refuse,
  type StartAsk,
  type StartFacts,
  type StartPlan,
  type Started,
  type StartRefused,
} from "../engine/start-plan";
import { tierErrors } from "../nodes/llm/definition-checks";
import { config } from "../env";
import { canonicalHash } from "../lib/hash";
import { newId } from "../lib/ids";
import { traceIdFrom } from "../lib/trace";
import { executionStub, snapshotOf, startIn, tenantStub } from "../durable/client";
import type { ExecutionView } from "../durable/view";
import type { ExecutionStatus } from "../engine/events";
import type { TokenDecision } from "../durable/tenant";
import { IN_FLIGHT_LEASE_MS } from "./idempotent-create";

export type { StartAsk, Started, StartRefused } from "../engine/start-plan";

/** What the caller's one TenantObject call answered: its request token (API starts) and the queue decision. */
export interface Admission {
  token: TokenDecision | null;
  granted: boolean;
}

/** What a caller adds to a start: its own admission call, where work after the answer goes, timing, a wait. */
export interface PerformOptions {
  /** The caller's one TenantObject call (the API's carries its request token); the plain admission without it. */
  admit?: ((queue: QueueAsk | null) => Promise<Admission>) | undefined;
  /**
   * Hands over work that may finish after the answer (the Worker's waitUntil): closing the Idempotency-Key claim.
   * Without it, that write is awaited. Should it fail, the claim lapses after IN_FLIGHT_LEASE_MS and a duplicate
   * then joins the same execution, so nothing is started twice either way.
   */
  afterAnswer?: ((work: (db: Db) => Promise<unknown>) => void) | undefined;
  /** Told how long admission and the object's start (with its wait) took, in ms. */
  timing?: ((step: "admit" | "object", ms: number) => void) | undefined;
  /** Start and wait (Prefer: wait): how long the object's start may wait for the run to settle, in ms. */
  waitMs?: number | undefined;
}

/** A start's answer; with a wait, the execution's view once it settled or when the wait ran out. */
export type StartedNow = Started & { settled?: ExecutionView };

/** The hash an Idempotency-Key's claim holds: the workflow and what the caller said the request was. */
export function requestHashOf(workflowId: string, requestForHash: unknown): Promise<string> {
  return canonicalHash({ workflow_id: workflowId, request: requestForHash });
}

/** decideStart's facts from the start's D1 reads and the deployment. */
export function startFacts(
  env: Env,
  reads: Pick<StartReads, "workflow">,
  claim: ClaimRow | null,
  proposedId: string,
  requestHash: string | null,
): StartFacts {
  return {
    workflow: reads.workflow,
    claim,
    proposedId,
    requestHash,
    now: Date.now(),
    inFlightLeaseMs: IN_FLIGHT_LEASE_MS,
    defaultTimeoutSeconds: config(env).DEFAULT_EXECUTION_TIMEOUT_SECONDS,
    newTraceId: () => traceIdFrom(null),
    modelErrors: (definition) => tierErrors(definition, env as unknown as Record<string, unknown>),
  };
}

/** An internal start (schedule, monitor, child, conversation turn): read, decide, perform. */
export async function startExecution(env: Env, db: Db, a: StartAsk): Promise<Started | StartRefused> {
  const proposedId = a.executionId ?? newId("ex");
  const requestHash = a.idempotencyKey === undefined ? null : await requestHashOf(a.workflowId, a.requestForHash);
  const claim =
    requestHash === null
      ? null
      : { key: a.idempotencyKey as string, request_hash: requestHash, execution_id: proposedId };
  const reads = await readStart(db, {
    tenantId: a.tenantId,
    workflowId: a.workflowId,
    version: a.version ?? null,
    claim,
    now: Date.now(),
  });
  const facts = startFacts(env, reads, claim ? (reads.claims.get(claim.key) ?? null) : null, proposedId, requestHash);
  const plan = decideStart(facts, a);
  if (!plan.ok) {
    await giveBack(db, a.tenantId, facts);
    return plan;
  }
  return performStart(env, db, facts, plan);
}

/** Give back the claim this request wrote for a start that was then refused. */
export async function giveBack(db: Db, tenantId: string, facts: StartFacts): Promise<void> {
  const ours = claimToGiveBack(facts);
  if (ours) await releaseClaims(db, tenantId, [ours]);
}

/** A decided start: admission, then the object's start, then the claim closed. */
export async function performStart(
  env: Env,
  db: Db,
  facts: StartFacts,
  plan: StartPlan,
  opts: PerformOptions = {},
): Promise<StartedNow | StartRefused> {
  const p = plan.params;
  const stub = executionStub(env, p.id);
  let t = performance.now();
  const lap = (step: "admit" | "object") => {
    const now = performance.now();
    opts.timing?.(step, now - t);
    t = now;
  };
  if (plan.confirmInFlight && !(await stub.snapshot(p.tenant_id)))
    return refuse(
      "idempotency_key_in_flight",
      "A request with this Idempotency-Key is still being processed; retry shortly.",
      {
        execution_id: p.id,
      },
    );
  const admit = opts.admit ?? ((queue) => plainAdmission(env, p.tenant_id, queue));
  // A replay asks for its token only: its execution holds (or waits for) its places in the queues already.
  const queue = plan.replay ? null : await queueAsk(env, plan);
  const admission = await admit(queue && queue.ask);
  lap("admit");
  if (admission.token && !admission.token.allowed) {
    await giveBack(db, p.tenant_id, facts);
    return refuse("rate_limited", "This API key is over its rate limit.", {
      retry_after_seconds: admission.token.retry_after_seconds,
    });
  }
  try {
    const admitted = queue ? { ...queue.rendered, granted: admission.granted } : null;
    const started = await startObject(env, plan, admitted, opts.waitMs);
    lap("object");
    return started;
  } finally {
    // Started, or the object died mid-start (it restarts on the next call): either way the claim is freed, so a
    // retry with the same Idempotency-Key joins this execution at once instead of waiting out the in-flight lease.
    if (plan.claimOpen) {
      const key = plan.idempotencyKey as string;
      const close = (on: Db) => closeClaims(on, p.tenant_id, [key], Date.now());
      if (opts.afterAnswer) opts.afterAnswer((on) => close(on).catch((err: unknown) => logUnclosedClaims(p.id, err)));
      else await close(db);
    }
  }
}

/** The places in the tenant's queues a new execution asks for: its rendered concurrency key and a running slot. */
export async function queueAsk(
  env: Env,
  plan: StartPlan,
): Promise<{ rendered: Awaited<ReturnType<typeof concurrencyKeyOf>>; ask: QueueAsk | null }> {
  const p = plan.params;
  const rendered = await concurrencyKeyOf(p.definition, p.input, p);
  const slots = config(env).MAX_RUNNING_EXECUTIONS_PER_TENANT;
  // A key that does not render fails the run at once: it queues nowhere.
  const ask = { executionId: p.id, key: rendered.key, slots, lane: plan.lane, group: p.workflow_id };
  return { rendered, ask: rendered.error === null ? ask : null };
}

async function plainAdmission(env: Env, tenantId: string, queue: QueueAsk | null): Promise<Admission> {
  if (!queue) return { token: null, granted: false };
  return tenantStub(env, tenantId).admit({ queue });
}

/**
 * Start the object with its admission. start() is idempotent per execution id; a replay (admitted null) whose first
 * start was cut off before the object existed is admitted now and started, so the pipeline stays admission's owner.
 */
export async function startObject(
  env: Env,
  plan: StartPlan,
  admitted: Admitted | null,
  waitMs = 0,
): Promise<StartedNow | StartRefused> {
  const p = plan.params;
  const ok = (status: ExecutionStatus, settled: ExecutionView | undefined): StartedNow => ({
    ok: true,
    id: p.id,
    status,
    workflow_id: p.workflow_id,
    version: p.version,
    replay: plan.replay,
    ...(settled ? { settled } : {}),
  });
  try {
    let started = await startIn(env, p, admitted, waitMs);
    if (started.unadmitted) {
      const queue = await queueAsk(env, plan);
      const { granted } = await plainAdmission(env, p.tenant_id, queue.ask);
      started = await startIn(env, p, { ...queue.rendered, granted }, waitMs);
    }
    return ok(started.status, started.view);
  } catch (err) {
    // A call that waited can fail after its start was stored (the object reset mid-wait): then it did start, and
    // saying "interrupted" would have a caller without an Idempotency-Key start it twice. The object knows.
    if (waitMs > 0) {
      const view = await snapshotOf(env, p.id, p.tenant_id).catch(() => null);
      if (view) return ok(view.status, view);
    }
    logError("execution start interrupted", p.id, err);
    const retry = plan.idempotencyKey !== undefined ? " with the same Idempotency-Key" : "";
    return refuse("execution_start_interrupted", `Starting execution ${p.id} was interrupted; retry${retry}.`, {
      execution_id: p.id,
    });
  }
}

export function logUnclosedClaims(executionId: string, err: unknown): void {
  logError("idempotency claim not closed; it lapses after its in-flight lease", executionId, err);
}

// Errors are written whatever LOG_LEVEL says.
function logError(msg: string, executionId: string, err: unknown): void {
  console.error(JSON.stringify({ level: "error", msg, execution_id: executionId, error: String(err) }));
}

import type { Db } from "../db/client";
import { claimIdempotencyKey, completeIdempotencyKey } from "../db/idempotency-repo";
import * as repo from "../db/repo";
import { releaseClaim, type ClaimRow, type StartReads } from "../db/start-reads";
import { concurrencyKeyOf, type Admitted, type QueueAsk } from "../engine/concurrency-key";
import type { ConversationTurn, StartParams } from "../engine/run/state";
import type { Definition, FieldError } from "../engine/dag";
import type { ExecutionStatus } from "../engine/events";
import { validateInput } from "../engine/input";
import { tierErrors } from "../nodes/llm/definition-checks";
import { config } from "../env";
import { canonicalHash } from "../lib/hash";
import { isId, newId } from "../lib/ids";
import { traceIdFrom } from "../lib/trace";
import { executionStub } from "../durable/client";
import { IN_FLIGHT_LEASE_MS } from "./idempotent-create";

export interface StartRequest {
  tenantId: string;
  workflowId: string;
  version?: number | undefined;
  input: unknown;
  timeoutSeconds?: number | undefined;
  /** Same key + same request → the original execution; same key + another request → 422. */
  idempotencyKey?: string | undefined;
  /**
   * A duplicate that arrives while the request holding its key is still starting the execution: "conflict" answers
   * 409 (the API: the client retries and then gets the replay), "join" starts the same execution idempotently
   * (internal callers: schedules, child executions). A claim older than IN_FLIGHT_LEASE_MS is treated as abandoned.
   */
  inFlight?: "conflict" | "join";
  /** What the idempotency hash covers (the API body, or the schedule and its due time). */
  requestForHash: unknown;
  /** The caller's trace id; a new one when absent. */
  traceId?: string | undefined;
  tags?: string[] | undefined;
  metadata?: Record<string, string> | undefined;
  /** The id to give a new execution (a conversation turn names it before starting); a fresh one when absent. */
  executionId?: string | undefined;
  /** The conversation turn this execution answers. */
  conversation?: ConversationTurn | undefined;
  /** For a child started by a `workflow` node. */
  parent?: { execution_id: string; node_id: string } | undefined;
  /**
   * Hands over work that may finish after the answer (the Worker's waitUntil): closing the Idempotency-Key claim.
   * Without it, that write is awaited. Should it fail, the claim lapses after IN_FLIGHT_LEASE_MS and a duplicate
   * then joins the same execution, so nothing is started twice either way.
   */
  afterAnswer?: ((work: (db: Db) => Promise<unknown>) => void) | undefined;
  /** Told how long each step waited (workflow read, idempotency claim, admission, the object's start), in ms. */
  timing?: ((step: StartStep, ms: number) => void) | undefined;
  /**
   * The workflow version and the Idempotency-Key claim, already read by the caller's one D1 batch (the API's start
   * route, src/db/start-reads.ts) with `executionId` as the id it proposed; without it they are read here.
   */
  prefetched?: { workflow: StartReads["workflow"]; claim: ClaimRow | null; executionId: string } | undefined;
  /**
   * The caller's one TenantObject call (the API's: its request token together with the queues), given the rendered
   * concurrency key, or null for a replay. Without it, the ExecutionObject takes its own place in the queues.
   * A throw (the rate limit) refuses the start; a claim this request wrote is given back first.
   */
  admit?: ((queue: QueueAsk | null) => Promise<{ granted: boolean }>) | undefined;
}

export type StartStep = "workflow" | "idempotency" | "admit" | "object";

export interface Started {
  ok: true;
  id: string;
  status: ExecutionStatus;
  workflow_id: string;
  version: number;
  replay: boolean;
}

/** Why an execution was not started; the route maps `code` to an HTTP status, cron and executors branch on it. */
export interface StartRefused {
  ok: false;
  code: StartRefusal;
  message: string;
  /** Worth trying again as it is (the same Idempotency-Key included). */
  retryable: boolean;
  execution_id?: string;
  errors?: FieldError[];
}

export type StartRefusal =
  | "workflow_not_found"
  | "version_not_found"
  | "invalid_input"
  | "model_not_configured"
  | "idempotency_key_reused"
  | "idempotency_key_in_flight"
  | "execution_start_interrupted";

const refuse = (code: StartRefusal, message: string, extra: Partial<StartRefused> = {}): StartRefused => ({
  ok: false,
  code,
  message,
  retryable: code === "idempotency_key_in_flight" || code === "execution_start_interrupted",
  ...extra,
});

/** Start an execution the one way there is: used by the API, schedules, monitors and workflow nodes alike. */
export async function startExecution(env: Env, db: Db, r: StartRequest): Promise<Started | StartRefused> {
  let t = performance.now();
  const lap = (step: StartStep) => {
    const now = performance.now();
    r.timing?.(step, now - t);
    t = now;
  };
  const wf = r.prefetched
    ? r.prefetched.workflow
    : isId("wf", r.workflowId)
      ? await repo.getWorkflow(db, r.tenantId, r.workflowId, r.version ?? null)
      : null;
  if (!r.prefetched) lap("workflow");
  // No workflow: the batch wrote no claim either (it claims only for a version that exists).
  if (!wf) {
    return r.version !== undefined
      ? refuse("version_not_found", `Workflow ${r.workflowId} has no version ${r.version}.`)
      : refuse("workflow_not_found", `Workflow ${r.workflowId} does not exist.`);
  }
  const proposed = r.prefetched?.executionId ?? r.executionId ?? newId("ex");
  // A claim the batch wrote for this request is given back when the start is refused after it.
  const giveBack = async () => {
    const c = r.prefetched?.claim;
    if (c && c.execution_id === proposed && c.completed_at === null)
      await releaseClaim(db, r.tenantId, c.key, c.execution_id);
  };
  const definition = wf.definition as Definition;
  if (definition.input_schema) {
    const errors = validateInput(definition.input_schema, r.input);
    if (errors.length) {
      await giveBack();
      return refuse("invalid_input", "The input does not match the workflow's input_schema.", { errors });
    }
  }
  // A run whose llm node names a tier this deployment does not resolve would fail at that node: refused now.
  const tiers = tierErrors(definition, env as unknown as Record<string, unknown>);
  if (tiers.length) {
    await giveBack();
    return refuse("model_not_configured", "The workflow uses an LLM tier this deployment does not resolve.", {
      errors: tiers,
    });
  }
  let id = proposed;
  let replay = false;
  let claimOpen = false;
  if (r.idempotencyKey !== undefined) {
    const hash = await canonicalHash({ workflow_id: r.workflowId, request: r.requestForHash });
    const asked = { tenant_id: r.tenantId, key: r.idempotencyKey, request_hash: hash, execution_id: id };
    const owner = r.prefetched ? r.prefetched.claim : await claimIdempotencyKey(db, asked, Date.now());
    // The batch claims for a valid key and an existing version, both checked by now: a row must be there.
    if (!owner) throw new Error(`the Idempotency-Key claim for execution ${id} was neither written nor found`);
    if (owner.request_hash !== hash) {
      return refuse("idempotency_key_reused", "This Idempotency-Key was used with a different request body.", {
        execution_id: owner.execution_id,
      });
    }
    if (!r.prefetched) lap("idempotency");
    replay = owner.execution_id !== id;
    id = owner.execution_id;
    claimOpen = owner.completed_at === null;
    // The first request closes its claim after answering: a duplicate arriving before then finds its execution
    // already created and replays it; only one whose execution does not exist yet is told to come back.
    const inFlight = replay && claimOpen && owner.created_at > Date.now() - IN_FLIGHT_LEASE_MS;
    if (inFlight && r.inFlight === "conflict" && !(await executionStub(env, id).snapshot(r.tenantId))) {
      return refuse(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        {
          execution_id: owner.execution_id,
        },
      );
    }
  }
  const params: StartParams = {
    id,
    tenant_id: r.tenantId,
    workflow_id: r.workflowId,
    version: wf.version,
    definition,
    input: r.input,
    trace_id: r.traceId ?? traceIdFrom(null),
    parent_execution_id: r.parent?.execution_id ?? null,
    parent_node_id: r.parent?.node_id ?? null,
    history_shard: wf.history_shard,
    conversation: r.conversation ?? null,
    labels:
      r.tags?.length || Object.keys(r.metadata ?? {}).length
        ? { tags: r.tags ?? [], metadata: r.metadata ?? {} }
        : null,
    timeout_seconds: r.timeoutSeconds ?? definition.timeout_seconds ?? config(env).DEFAULT_EXECUTION_TIMEOUT_SECONDS,
  };
  let admitted: Admitted | undefined;
  if (r.admit) {
    // A replay asks for its token only: its execution has (or, cut off, takes itself) its places in the queues.
    const rendered = replay ? null : await concurrencyKeyOf(definition, r.input, params);
    const slots = config(env).MAX_RUNNING_EXECUTIONS_PER_TENANT;
    const queue = rendered && rendered.error === null ? { executionId: id, key: rendered.key, slots } : null;
    try {
      const { granted } = await r.admit(queue);
      if (rendered) admitted = { ...rendered, granted };
    } catch (err) {
      await giveBack();
      throw err;
    }
    lap("admit");
  }
  // start() is idempotent per execution id, so a replay also (re)starts an execution whose first start was cut off.
  let started: { status: ExecutionStatus };
  t = performance.now();
  try {
    started = await executionStub(env, id).start(params, admitted);
    lap("object");
  } catch (err) {
    console.error(
      JSON.stringify({ level: "error", msg: "execution start interrupted", execution_id: id, error: String(err) }),
    );
    const retry = r.idempotencyKey !== undefined ? " with the same Idempotency-Key" : "";
    return refuse("execution_start_interrupted", `Starting execution ${id} was interrupted; retry${retry}.`, {
      execution_id: id,
    });
  } finally {
    // Started, or the object died mid-start (it restarts on the next call): either way the claim is freed, so a
    // retry with the same Idempotency-Key joins this execution at once instead of waiting out the in-flight lease.
    if (claimOpen) {
      const close = (on: Db) => completeIdempotencyKey(on, r.tenantId, r.idempotencyKey as string, Date.now());
      if (r.afterAnswer) r.afterAnswer((on) => close(on).catch((err: unknown) => logUnclosedClaim(id, err)));
      else await close(db);
    }
  }
  return { ok: true, id, status: started.status, workflow_id: r.workflowId, version: wf.version, replay };
}

function logUnclosedClaim(executionId: string, err: unknown): void {
  const msg = "idempotency claim not closed; it lapses after its in-flight lease";
  console.error(JSON.stringify({ level: "error", msg, execution_id: executionId, error: String(err) }));
}

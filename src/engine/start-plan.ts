// Deciding a start, from what one D1 batch read: every start (the API's single and batch starts, schedules, monitors,
// child executions, conversation turns) goes through decideStart, so the checks and the refusals are one list.
// Pure: what it needs from the deployment (the default timeout, the model tiers it resolves) comes in `facts`.
import { isLane, LANES, type Lane } from "./fair-share";
import type { Definition, FieldError } from "./dag";
import type { ExecutionStatus } from "./events";
import { validateInput } from "./input";
import type { ConversationTurn, StartParams } from "./run/state";

/** What a caller asks to start. */
export interface StartAsk {
  tenantId: string;
  workflowId: string;
  version?: number | undefined;
  input: unknown;
  timeoutSeconds?: number | undefined;
  /** Same key + same request → the original execution; same key + another request → 422. */
  idempotencyKey?: string | undefined;
  /**
   * A duplicate that arrives while the request holding its key is still starting the execution: "conflict" answers
   * 409 unless its execution exists by now (the API: the client retries and then gets the replay), "join" starts the
   * same execution idempotently (internal callers and batch items). A claim older than the lease counts as abandoned.
   */
  inFlight?: "conflict" | "join";
  /** What the idempotency hash covers (the API body, or the schedule and its due time). */
  requestForHash: unknown;
  traceId?: string | undefined;
  tags?: string[] | undefined;
  metadata?: Record<string, string> | undefined;
  /** The id to give a new execution (a conversation turn names it before starting); a fresh one when absent. */
  executionId?: string | undefined;
  conversation?: ConversationTurn | undefined;
  /** For a child started by a `workflow` node. */
  parent?: { execution_id: string; node_id: string } | undefined;
  /**
   * Which priority lane it waits in for a running slot (src/engine/fair-share.ts); unchecked, as the API received
   * it. A conversation turn is interactive, everything else default, unless the ask says otherwise.
   */
  lane?: string | undefined;
  /** A fork (src/engine/fork.ts): where it comes from, and the nodes it starts with finished. */
  fork?: StartParams["fork"];
}

/** An Idempotency-Key's row as D1 holds it. */
export interface ClaimFacts {
  key: string;
  request_hash: string;
  execution_id: string;
  created_at: number;
  completed_at: number | null;
}

/** What the start's D1 batch read, and what the deployment says. */
export interface StartFacts {
  workflow: { definition: unknown; version: number; history_shard: number } | null;
  /** The row that owns the ask's Idempotency-Key (this request's own claim, or an earlier one's). */
  claim: ClaimFacts | null;
  /** The id this request proposed (and claimed the key with). */
  proposedId: string;
  /** The canonical hash of `requestForHash`; null without an Idempotency-Key. */
  requestHash: string | null;
  now: number;
  inFlightLeaseMs: number;
  defaultTimeoutSeconds: number;
  /** A trace id for a start that brings none: drawn only then. */
  newTraceId: () => string;
  /** Errors for llm tiers this deployment does not resolve. */
  modelErrors: (definition: Definition) => FieldError[];
}

/** A start that may go ahead: the object's parameters, and what the pipeline does around the object's start. */
export interface StartPlan {
  ok: true;
  params: StartParams;
  /** An earlier request with the same Idempotency-Key made this execution. */
  replay: boolean;
  /** The key's claim is still open: closed once the object has started. */
  claimOpen: boolean;
  /** A duplicate of a request still starting: refused as in flight unless its execution exists by now. */
  confirmInFlight: boolean;
  idempotencyKey: string | undefined;
  lane: Lane;
}

export type StartRefusal =
  | "workflow_not_found"
  | "version_not_found"
  | "invalid_input"
  | "validation_failed"
  | "model_not_configured"
  | "unknown_lane"
  | "idempotency_key_reused"
  | "idempotency_key_in_flight"
  | "execution_start_interrupted"
  | "rate_limited";

/** Why an execution was not started; the edge maps `code` to an HTTP status, cron and executors branch on it. */
export interface StartRefused {
  ok: false;
  code: StartRefusal;
  message: string;
  /** Worth trying again as it is (the same Idempotency-Key included). */
  retryable: boolean;
  execution_id?: string;
  errors?: FieldError[];
  retry_after_seconds?: number;
}

export interface Started {
  ok: true;
  id: string;
  status: ExecutionStatus;
  workflow_id: string;
  version: number;
  replay: boolean;
}

const RETRYABLE = new Set<StartRefusal>(["idempotency_key_in_flight", "execution_start_interrupted", "rate_limited"]);

export const refuse = (code: StartRefusal, message: string, extra: Partial<StartRefused> = {}): StartRefused => ({
  ok: false,
  code,
  message,
  retryable: RETRYABLE.has(code),
  ...extra,
});

/** Decide one start from its reads: a plan for the object, or the refusal. */
export function decideStart(f: StartFacts, a: StartAsk): StartPlan | StartRefused {
  const wf = f.workflow;
  if (!wf) {
    return a.version !== undefined
      ? refuse("version_not_found", `Workflow ${a.workflowId} has no version ${a.version}.`)
      : refuse("workflow_not_found", `Workflow ${a.workflowId} does not exist.`);
  }
  const lane = a.lane ?? (a.conversation ? "interactive" : "default");
  if (!isLane(lane))
    return refuse("unknown_lane", `There is no lane "${lane}"; the lanes are ${LANES.join(", ")}.`, {
      errors: [{ path: "lane", message: `one of ${LANES.join(", ")}` }],
    });
  let id = f.proposedId;
  let replay = false;
  let claimOpen = false;
  let confirmInFlight = false;
  if (a.idempotencyKey !== undefined) {
    const owner = f.claim;
    // The batch claims for an existing version, checked above: a row must be there.
    if (!owner) throw new Error(`the Idempotency-Key claim for execution ${id} was neither written nor found`);
    if (owner.request_hash !== f.requestHash) {
      return refuse("idempotency_key_reused", "This Idempotency-Key was used with a different request body.", {
        execution_id: owner.execution_id,
      });
    }
    replay = owner.execution_id !== id;
    id = owner.execution_id;
    claimOpen = owner.completed_at === null;
    // The first request closes its claim after answering: a duplicate arriving before then finds its execution
    // already created and replays it; only one whose execution does not exist yet is told to come back.
    confirmInFlight = replay && claimOpen && a.inFlight === "conflict" && owner.created_at > f.now - f.inFlightLeaseMs;
  }
  const definition = wf.definition as Definition;
  // A replay answers with the execution the key made, as it made it: the checks below were passed then.
  if (!replay) {
    const errors = definition.input_schema ? validateInput(definition.input_schema, a.input) : [];
    if (errors.length)
      return refuse("invalid_input", "The input does not match the workflow's input_schema.", { errors });
    // A run whose llm node names a tier this deployment does not resolve would fail at that node: refused now.
    const tiers = f.modelErrors(definition);
    if (tiers.length)
      return refuse("model_not_configured", "The workflow uses an LLM tier this deployment does not resolve.", {
        errors: tiers,
      });
  }
  const labelled = Boolean(a.tags?.length) || Object.keys(a.metadata ?? {}).length > 0;
  const params: StartParams = {
    id,
    tenant_id: a.tenantId,
    workflow_id: a.workflowId,
    version: wf.version,
    definition,
    input: a.input,
    trace_id: a.traceId ?? f.newTraceId(),
    parent_execution_id: a.parent?.execution_id ?? null,
    parent_node_id: a.parent?.node_id ?? null,
    history_shard: wf.history_shard,
    conversation: a.conversation ?? null,
    lane,
    labels: labelled ? { tags: a.tags ?? [], metadata: a.metadata ?? {} } : null,
    timeout_seconds: a.timeoutSeconds ?? definition.timeout_seconds ?? f.defaultTimeoutSeconds,
    ...(a.fork ? { fork: a.fork } : {}),
  };
  return { ok: true, params, replay, claimOpen, confirmInFlight, idempotencyKey: a.idempotencyKey, lane };
}

/** The claim this request wrote and must give back when its start is refused after the batch wrote it. */
export function claimToGiveBack(f: StartFacts): ClaimFacts | null {
  const c = f.claim;
  return c && c.execution_id === f.proposedId && c.completed_at === null ? c : null;
}

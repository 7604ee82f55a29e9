import type { z } from "zod";
import type { AttemptError } from "../engine/retry";
import type { BreakerSettings } from "../engine/breaker";
import type { Lane } from "../engine/fair-share";
import type { Admission, ProviderLimit } from "../engine/provider-limit";
import type { ExprContext } from "../engine/expr";
import type { RunResult } from "../engine/run/messages";
import type { Mail } from "../lib/email";
import type { TokenResult } from "../engine/connection";

export type { RunResult };

/** A failure worth another attempt (network, 5xx, 429, timeouts); `retryAfterMs` is a floor for the backoff. */
export class RetryableError extends Error {
  override readonly name = "RetryableError";
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    options?: ErrorOptions & { deferred?: boolean },
  ) {
    super(message, options);
    this.deferred = options?.deferred === true;
  }
  /** Nothing was attempted (see AttemptError.deferred). */
  readonly deferred: boolean;
}

/** A failure no retry can fix (4xx, bad config at run time, expression errors). */
export class FatalError extends Error {
  override readonly name = "FatalError";
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One LLM call's usage, recorded per attempt whatever became of the answer. */
export interface UsageRecord {
  provider: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  cost_source: "provider" | "price_table" | "unknown";
  latency_ms: number;
}

/** What the ExecutionObject lends an executor beyond its config: bindings and the tenant's ledger. */
export interface RunServices {
  env: Env;
  tenantId: string;
  executionId: string;
  nodeId: string;
  /** Persist usage in the execution's storage first; it is projected to D1 with the rest. */
  recordUsage(u: UsageRecord): void;
  /** The tenant's month-to-date LLM spend in USD, this execution's not-yet-projected usage included. */
  /**
   * Reserve an LLM call's worst-case cost against the tenant's monthly budget, atomically with every other call;
   * `id` null when the tenant has no budget. Settle it with the real cost once the call is over.
   */
  reserveBudget(
    amount: number,
  ): Promise<{ ok: true; id: string | null } | { ok: false; spent: number; reserved: number; budget: number }>;
  settleBudget(id: string, cost: number): Promise<void>;
  /** A W3C traceparent for one outbound call (the execution's trace, a new span). */
  traceparent(): string;
  /** Decrypted values of the named tenant secrets; missing names are absent. */
  secrets(names: string[]): Promise<Record<string, string>>;
  /** The admission lane of the execution (provider windows keep a share for interactive runs). */
  lane: Lane;
  /** The circuit breaker and admission windows of an LLM provider, shared by every isolate. */
  breaker(provider: string): {
    allow(cfg: BreakerSettings): Promise<{ allowed: boolean; retry_after_ms: number }>;
    record(ok: boolean, cfg: BreakerSettings): Promise<unknown>;
    /** `tenant`: whose call it is (tenants share a window by weight); absent for the engine's own checks. */
    takeCall(
      bucket: string,
      limit: ProviderLimit,
      windowMs: number,
      tokens: number,
      lane: Lane,
      tenant?: string,
    ): Promise<Admission>;
  };
  /** Start a child execution under this node, keyed so that a re-run finds the one it started. Failures are values. */
  startChild(req: ChildRequest): Promise<ChildStarted>;
  /**
   * Stream a piece of an answer, to go at `offset` in it (what a client has from there on is replaced: 0 restarts the
   * answer). Logged as node.delta, resumable from its seq, sent to subscribers as it commits.
   */
  delta(text: string, offset: number): void;
  /**
   * Durable steps under `scope` (the attempt's idempotency key: the same across retries and crash re-runs, new after
   * a redrive): what a step recorded survives a crash and an eviction, so a resumed attempt replays it instead of
   * doing it again. `get` is undefined for a step that has not run.
   */
  steps(scope: string): StepJournal;
  /**
   * Send one email (src/lib/send-mail.ts); its message id. Throws EmailUnconfigured or EmailRefused for what no retry
   * fixes, anything else for what one may.
   */
  sendMail(mail: Mail): Promise<string>;
  /**
   * A bearer token of the tenant's OAuth2 connection `name` (src/services/connections.ts); `rejected` is a token the
   * API just refused, to be replaced. Failures are values.
   */
  connectionToken(name: string, rejected: string | null): Promise<TokenResult>;
  /**
   * Open the approval this attempt asks for (once: a re-run gets the same one) and send its first notices. What the
   * deployment lacks for it (PUBLIC_URL, email, SECRETS_KEY) is a value; a notice that fails is retried by the cron.
   */
  openApproval(req: ApprovalRequest): Promise<{ ok: true; id: string } | { ok: false; code: string; message: string }>;
  /** Register a monitor for the tenant (insert once by id); a second one on the same check is refused as a value. */
  createMonitor(
    row: NewMonitor,
    allowDuplicate: boolean,
  ): Promise<
    { ok: true; id: string; next_check_at: number } | { ok: false; code: string; message: string; retryable: boolean }
  >;
}

export interface StepJournal {
  get(key: string): unknown;
  put(key: string, value: unknown): void;
}

/** A monitor as an executor describes it; the tenant, state and timestamps are filled in by the service. */
export interface NewMonitor {
  id: string;
  name: string;
  check: unknown;
  interval_seconds: number;
  failure_threshold: number;
  recovery_threshold: number;
  unreachable_threshold: number;
  alert: unknown;
  /** Sealed signing secret. */
  secret: string;
  expires_at: number | null;
  now: number;
}

export interface ApprovalRequest {
  /** The attempt's idempotency key. */
  key: string;
  title: string;
  message: string | null;
  approvers: string[];
  quorum: number;
  form: Record<string, unknown> | null;
  email: boolean;
  webhook: { url: string; secret: string } | null;
  remind_every_ms: number | null;
  escalate: { after_ms: number; to: string[] }[];
  timeout: { after_ms: number; action: "approve" | "reject" | "fail" } | null;
  now: number;
}

export interface ChildRequest {
  workflowId: string;
  version?: number | undefined;
  input: unknown;
  timeoutSeconds?: number | undefined;
  /** The same key finds the same child. */
  key: string;
}

export type ChildStarted = { ok: true; id: string } | { ok: false; code: string; message: string; retryable: boolean };

export interface RunContext<C> {
  /** The node's config with templates already rendered. */
  config: C;
  signal: AbortSignal;
  /** Stable per (execution, node or map item) across retries and crash re-runs; a redrive gets a new one. */
  idempotencyKey: string;
  attempt: number;
  /** No retry follows this attempt under the node's policy: the time for fallbacks. */
  lastAttempt: boolean;
  now: number;
  expr: ExprContext;
  services: RunServices;
}

export interface NodeExecutor<S extends z.ZodType = z.ZodType> {
  config: S;
  /** Top-level config fields holding a bare expression rather than `{{ }}` templates. */
  expressionFields?: readonly string[];
  /** Attempt timeout when the node sets none. */
  defaultTimeoutMs: number;
  run(ctx: RunContext<z.output<S>>): Promise<RunResult>;
}

export function errorValue(err: unknown, signal: AbortSignal): AttemptError {
  if (err instanceof RetryableError) {
    return {
      code: err.code,
      message: err.message,
      retryable: true,
      ...(err.retryAfterMs !== undefined ? { retry_after_ms: err.retryAfterMs } : {}),
      ...(err.deferred ? { deferred: true } : {}),
    };
  }
  if (err instanceof FatalError) return { code: err.code, message: err.message, retryable: false };
  if (signal.aborted) {
    const reason = signal.reason as { name?: string; message?: string } | undefined;
    if (reason?.name === "TimeoutError") return { code: "timeout", message: "attempt timed out", retryable: true };
    return { code: "aborted", message: reason?.message ?? "attempt aborted", retryable: false };
  }
  return { code: "executor_error", message: err instanceof Error ? err.message : String(err), retryable: false };
}

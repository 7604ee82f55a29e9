import type { NodeDef } from "../engine/dag";
import { render, UndefinedValueError, type ExprContext } from "../engine/expr";
import { zodErrors } from "../engine/dag";
import { DEFAULT_RETRY_POLICY } from "../engine/retry";
import { mockedEffect } from "../engine/fork";
import { canonicalHash } from "../lib/hash";
import { redact } from "../lib/secret-box";
import { loadNamedSecrets, secretNamesIn } from "../nodes/secrets";
import { errorValue, FatalError, type NodeExecutor, type RunResult, type RunServices } from "../nodes/types";
import { cancellableDelay } from "./turn";

export interface AttemptOptions {
  executionId: string;
  attempt: number;
  /** Aborted when the execution is cancelled or times out. */
  runSignal: AbortSignal;
  now: number;
  services: RunServices;
  /** What identifies the attempt when the node's id alone does not (a map item: "<node>[<index>]"). */
  subject?: string;
  /** Attempts made before the last redrive (0 if never redriven): a redrive is a deliberate new try with a new key. */
  attemptBase: number;
  /** In a fork: the source's answer to this node's request, or the source's output standing in for a side effect. */
  fork?: AttemptFork | undefined;
}

export interface AttemptFork {
  source: string;
  reuse?: { request_hash: string; output: unknown } | undefined;
  /** The node is mocked; null when the source has no output to stand in. */
  mock?: { output: unknown } | null | undefined;
}

/**
 * The Idempotency-Key an attempt's outside calls carry: one per node (map item), the same on every retry and on a
 * crash re-run, so a POST that timed out after the server committed is not repeated as a new order. A redrive gets
 * `:r<n>` (n = attempts before it). The attempt number travels separately (Edgeflow-Attempt).
 */
export function idempotencyKey(executionId: string, subject: string, attemptBase: number): string {
  return attemptBase > 0 ? `${executionId}:${subject}:r${attemptBase}` : `${executionId}:${subject}`;
}

/** Run one attempt of a node: render its templates, check the rendered config, call the executor. Never throws. */
export async function runAttempt(
  executor: NodeExecutor,
  node: NodeDef,
  ctx: ExprContext,
  opts: AttemptOptions,
): Promise<RunResult> {
  const timer = attemptTimer(node.timeout_ms ?? executor.defaultTimeoutMs);
  const signal = AbortSignal.any([timer.signal, opts.runSignal]);
  let secretValues: string[] = [];
  try {
    const secrets = await loadNamedSecrets(secretRefs(node.config, executor.expressionFields ?? []), opts.services);
    secretValues = Object.values(secrets);
    const config = await renderConfig(
      node.config,
      executor.expressionFields ?? [],
      secretValues.length ? { ...ctx, secrets } : ctx,
    );
    const parsed = executor.config.safeParse(config);
    if (!parsed.success) {
      const detail = zodErrors(parsed.error, ["config"])
        .map((e) => `${e.path}: ${e.message}`)
        .join("; ");
      throw new FatalError("invalid_config", `rendered config is invalid: ${detail}`);
    }
    // An llm node's request is hashed once rendered: a fork of this run reuses the answer to the same request.
    const requestHash = node.kind === "llm" ? await canonicalHash(parsed.data) : undefined;
    const forked = forkedResult(node, opts.fork, requestHash);
    if (forked) return forked;
    const result = await untilAborted(
      executor.run({
        config: parsed.data,
        signal,
        idempotencyKey: idempotencyKey(opts.executionId, opts.subject ?? node.id, opts.attemptBase),
        attempt: opts.attempt,
        lastAttempt: opts.attempt - opts.attemptBase >= (node.retry ?? DEFAULT_RETRY_POLICY).max_attempts,
        now: opts.now,
        expr: ctx,
        services: opts.services,
      }),
      signal,
    );
    const hashed = requestHash && "ok" in result && result.ok ? { ...result, request_hash: requestHash } : result;
    // A secret never leaves in an output: a server that echoes a header it was sent gets it redacted.
    return redact(await withResultKey(node, ctx, hashed), secretValues);
  } catch (err) {
    return redact({ ok: false, error: errorValue(err, signal) }, secretValues);
  } finally {
    timer.cancel();
  }
}

/**
 * What a fork's node answers without running: a side effect in `mock` mode stands on the source's output (and fails
 * when there is none, rather than inventing one); an llm request byte-identical to the source's takes its answer.
 */
function forkedResult(node: NodeDef, fork: AttemptFork | undefined, requestHash: string | undefined): RunResult | null {
  if (!fork) return null;
  if (fork.mock !== undefined) {
    const mocked = mockedEffect(node.id, fork.source, fork.mock);
    return mocked.ok ? { ...mocked, reused_from: fork.source, mocked: true } : mocked;
  }
  if (fork.reuse && requestHash === fork.reuse.request_hash)
    return { ok: true, output: fork.reuse.output, reused_from: fork.source, request_hash: requestHash };
  return null;
}

/**
 * A succeeded node that declares a result key gets it rendered now, over its own output too: a key that reads a
 * missing value fails the attempt like any template would, rather than filing the result under a blank.
 */
async function withResultKey(node: NodeDef, ctx: ExprContext, result: RunResult): Promise<RunResult> {
  const template = node.result?.key;
  if (!template || !("ok" in result) || !result.ok) return result;
  const key = await renderAfterSuccess(template, node.id, ctx, result.output, "result.key");
  if (typeof key !== "string" && typeof key !== "number")
    throw new FatalError(
      "invalid_result_key",
      `result.key rendered ${JSON.stringify(key)}; a key is a string or number`,
    );
  const text = String(key);
  if (text.length === 0 || text.length > 512)
    throw new FatalError("invalid_result_key", `result.key rendered ${text.length} characters; a key has 1 to 512`);
  return { ...result, result_key: text };
}

/**
 * Render a template a node declares about its own success (its result key, its artifacts) over its context and its
 * own output; a missing value or a broken expression is a fatal error of the attempt, named at `path`.
 */
export async function renderAfterSuccess(
  template: string,
  nodeId: string,
  ctx: ExprContext,
  output: unknown,
  path: string,
): Promise<unknown> {
  const own = { ...ctx, nodes: { ...ctx.nodes, [nodeId]: { status: "succeeded", output } } };
  try {
    return await render(template, own, path);
  } catch (err) {
    if (err instanceof UndefinedValueError) throw new FatalError("template_undefined", err.message, { cause: err });
    throw new FatalError("template_error", `${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * An abort signal that fires with a TimeoutError after `ms`. Unlike AbortSignal.timeout, its timer is
 * cancelled when the attempt ends: a pending timer keeps the Durable Object from being evicted.
 */
function attemptTimer(ms: number): { signal: AbortSignal; cancel: () => void } {
  const timeout = new AbortController();
  const timer = cancellableDelay(ms);
  void timer.done.then(() => timeout.abort(new DOMException("attempt timed out", "TimeoutError")));
  return { signal: timeout.signal, cancel: timer.cancel };
}

/** The secrets a node's templated fields name (`{{ secrets.NAME }}`); bare expressions never see secrets. */
// A node's secret references never change, so each definition is scanned once, not on every attempt.
const secretNames = new WeakMap<Record<string, unknown>, string[]>();

function secretRefs(config: Record<string, unknown>, expressionFields: readonly string[]): string[] {
  let names = secretNames.get(config);
  if (!names) {
    names = secretNamesIn(
      Object.entries(config)
        .filter(([k]) => !expressionFields.includes(k))
        .map(([, v]) => JSON.stringify(v))
        .join("\n"),
    );
    secretNames.set(config, names);
  }
  return names;
}

async function renderConfig(
  config: Record<string, unknown>,
  expressionFields: readonly string[],
  ctx: ExprContext,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    try {
      out[key] = expressionFields.includes(key) ? value : await render(value, ctx, `config.${key}`);
    } catch (err) {
      if (err instanceof UndefinedValueError) throw new FatalError("template_undefined", err.message, { cause: err });
      throw new FatalError("template_error", `config.${key}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  return out;
}

// An executor that ignores its signal must still not hold the execution past its timeout.
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

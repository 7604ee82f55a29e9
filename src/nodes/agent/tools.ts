// One tool call of an agent, as a durable step: arguments checked against the tool's schema (a bad call goes back to
// the model, never into the tool), an approval waited for when the tool asks for one, then the call itself with its
// own Idempotency-Key, timeout and retry policy. A child workflow or an approval hands the node to the execution's
// waits; the step that woke it is read back when the attempt resumes.
import { childOutcome } from "../../engine/child";
import { evaluate, render, UndefinedValueError, type ExprContext } from "../../engine/expr";
import { validateInput } from "../../engine/input";
import { decideRetry, DEFAULT_RETRY_POLICY } from "../../engine/retry";
import type { ChildEnd } from "../../engine/run/messages";
import { redact } from "../../lib/secret-box";
import { http } from "../http";
import { errorValue, FatalError, RetryableError, type RunContext, type RunResult, type StepJournal } from "../types";
import type { AgentConfig, ToolDef } from "./config";

/** What a model may be given back from one call; past it the call is an error the model is told about. */
export const MAX_TOOL_RESULT_CHARS = 100_000;

/** How one call ended, as recorded and as the model is told. */
export type ToolOutcome =
  | { status: "ok"; output: unknown; attempts: number; latency_ms: number }
  /** The tool failed (after its retries): the model is told why. */
  | { status: "error"; error: { code: string; message: string }; attempts: number; latency_ms: number }
  /** The model's call was wrong (unknown tool, arguments against the schema): counted against max_tool_errors. */
  | { status: "invalid"; error: { code: string; message: string } }
  /** An approver said no, or nobody answered in time. */
  | { status: "denied"; reason: string; by?: unknown };

export interface ToolCallAsked {
  id: string;
  name: string;
  input: unknown;
}

/** The step's name in the journal and in the approval event: turn and position in it (model call ids repeat). */
export const stepId = (turn: number, index: number) => `t${turn}.c${index}`;

export const approvalEvent = (nodeId: string, step: string) => `approve:${nodeId}:${step}`;
export const answerEvent = (tool: string, nodeId: string, step: string) => `${tool}:${nodeId}:${step}`;

/** Run (or resume) one call; `wait` when the node must wait for an approval or a child first. */
export async function runToolCall(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  step: string,
  call: ToolCallAsked,
  secrets: Record<string, string>,
): Promise<ToolOutcome | { wait: RunResult }> {
  const tool = ctx.config.tools.find((t) => t.name === call.name);
  if (!tool)
    return invalid(
      "unknown_tool",
      `there is no tool "${call.name}" (tools: ${ctx.config.tools.map((t) => t.name).join(", ")})`,
    );
  const problems = validateInput(tool.input_schema, call.input);
  if (problems.length)
    return invalid(
      "invalid_arguments",
      `the arguments do not match ${tool.name}'s schema: ${problems.map((p) => `${p.path.replace(/^input/, "args")}: ${p.message}`).join("; ")}`,
    );
  if (tool.requires_approval !== false) {
    const decided = approval(ctx, steps, step, tool, call);
    if (decided !== "approved") return decided;
  }
  if (tool.event) return answerCall(ctx, steps, step, tool, call);
  const scope = { ...ctx.expr, args: call.input, ...(Object.keys(secrets).length ? { secrets } : {}) } as ExprContext;
  const values = Object.values(secrets);
  if (tool.workflow) return childCall(ctx, steps, step, tool, scope, values);
  const started = Date.now();
  const outcome = await withRetries(ctx, steps, step, tool, (attempt, signal) =>
    tool.transform !== undefined
      ? transformCall(tool.transform, scope)
      : httpCall(ctx, step, tool, scope, attempt, signal),
  );
  return sized({ ...redact(outcome, values), latency_ms: Date.now() - started } as ToolOutcome);
}

const invalid = (code: string, message: string): ToolOutcome => ({ status: "invalid", error: { code, message } });

/** An approval recorded as the step's wake, or the wait for it. */
function approval(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  step: string,
  tool: ToolDef,
  call: ToolCallAsked,
): "approved" | ToolOutcome | { wait: RunResult } {
  const event = approvalEvent(ctx.services.nodeId, step);
  const woke = steps.get(`wake:${event}`) as { timed_out?: boolean; payload?: unknown } | undefined;
  if (woke === undefined) {
    const timeout = typeof tool.requires_approval === "object" ? tool.requires_approval.timeout_ms : null;
    return {
      wait: {
        wait: {
          until: timeout === null ? null : ctx.now + timeout,
          event,
          detail: { approval: { step, tool: tool.name, input: call.input } },
        },
      },
    };
  }
  if (woke.timed_out) return { status: "denied", reason: "no approval came before the timeout" };
  const p = woke.payload as { approved?: unknown; by?: unknown; reason?: unknown } | null | undefined;
  if (p?.approved === true) return "approved";
  if (p?.approved === false)
    return {
      status: "denied",
      reason: typeof p.reason === "string" && p.reason ? p.reason : "the approver declined",
      ...(p.by !== undefined ? { by: p.by } : {}),
    };
  throw new FatalError(
    "invalid_approval",
    `the event "${event}" decides with a payload {"approved": true | false, "reason"?, "by"?}; it came with ${JSON.stringify(p ?? null).slice(0, 200)}`,
  );
}

/** A call answered by an event: the payload is the result, or the wait for it. */
function answerCall(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  step: string,
  tool: ToolDef,
  call: ToolCallAsked,
): ToolOutcome | { wait: RunResult } {
  const timeout = (tool.event as NonNullable<ToolDef["event"]>).timeout_ms;
  const event = answerEvent(tool.name, ctx.services.nodeId, step);
  const woke = steps.get(`wake:${event}`) as { timed_out?: boolean; payload?: unknown } | undefined;
  if (woke === undefined)
    return {
      wait: {
        wait: { until: ctx.now + timeout, event, detail: { ask: { step, tool: tool.name, input: call.input } } },
      },
    };
  if (woke.timed_out)
    return {
      status: "error",
      error: { code: "no_answer", message: `no answer came within ${Math.round(timeout / 1000)} s` },
      attempts: 1,
      latency_ms: timeout,
    };
  return sized({ status: "ok", output: woke.payload ?? null, attempts: 1, latency_ms: 0 });
}

/** A child workflow: started once (keyed on the step), then the node waits for its end. */
async function childCall(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  step: string,
  tool: ToolDef,
  scope: ExprContext,
  secrets: string[],
): Promise<ToolOutcome | { wait: RunResult }> {
  const w = tool.workflow as NonNullable<ToolDef["workflow"]>;
  let id = steps.get(`child:${step}`) as string | undefined;
  if (id === undefined) {
    let input: unknown;
    try {
      input = await render(w.input ?? null, scope, `tools.${tool.name}.workflow.input`);
    } catch (err) {
      return { status: "error", error: renderError(err), attempts: 0, latency_ms: 0 };
    }
    const started = await ctx.services.startChild({
      workflowId: w.workflow_id,
      version: w.version,
      input,
      timeoutSeconds: w.timeout_seconds,
      key: `${ctx.idempotencyKey}:${step}`,
    });
    if (!started.ok) {
      // The child's object or D1 briefly unavailable is the node's retry; a refusal is the model's to hear.
      if (started.retryable) throw new RetryableError(`child_${started.code}`, started.message);
      return {
        status: "error",
        error: { code: `child_${started.code}`, message: started.message },
        attempts: 1,
        latency_ms: 0,
      };
    }
    id = started.id;
    steps.put(`child:${step}`, id);
  }
  const end = steps.get(`wake:child:${id}`) as ChildEnd | undefined;
  if (end === undefined) return { wait: { child: { execution_id: id } } };
  const r = childOutcome(id, end);
  if ("ok" in r && r.ok) return sized(redact({ status: "ok", output: r.output, attempts: 1, latency_ms: 0 }, secrets));
  const error = "ok" in r && !r.ok ? r.error : { code: "child_failed", message: `child ${id} failed` };
  return { status: "error", error: { code: error.code, message: error.message }, attempts: 1, latency_ms: 0 };
}

type Try = (attempt: number, signal: AbortSignal) => Promise<unknown>;
type Tried =
  | { status: "ok"; output: unknown; attempts: number }
  | { status: "error"; error: { code: string; message: string }; attempts: number };

/**
 * Tries of one call under the tool's retry policy, each with its own timeout; the try count is recorded first, so a
 * crash re-run goes on counting (the tool server sees Edgeflow-Attempt rise) rather than starting at 1 again.
 */
async function withRetries(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  step: string,
  tool: ToolDef,
  once: Try,
): Promise<Tried> {
  const policy = tool.retry ?? DEFAULT_RETRY_POLICY;
  const before = (steps.get(`tries:${step}`) as number | undefined) ?? 0;
  for (let n = 1; ; n++) {
    const attempt = before + n;
    steps.put(`tries:${step}`, attempt);
    const timer = new AbortController();
    const timeout = setTimeout(
      () => timer.abort(new DOMException(`the call timed out after ${tool.timeout_ms} ms`, "TimeoutError")),
      tool.timeout_ms,
    );
    const signal = AbortSignal.any([ctx.signal, timer.signal]);
    try {
      return { status: "ok", output: await once(attempt, signal), attempts: n };
    } catch (err) {
      // The node's own timeout or its run's end stops the loop: the node's attempt is over.
      if (ctx.signal.aborted) throw err;
      const error = errorValue(err, signal);
      const decision = decideRetry(policy, n, error, Math.random);
      if (!decision.retry) return { status: "error", error: { code: error.code, message: error.message }, attempts: n };
      await pause(decision.delay_ms, ctx.signal);
    } finally {
      clearTimeout(timeout);
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

async function httpCall(
  ctx: RunContext<AgentConfig>,
  step: string,
  tool: ToolDef,
  scope: ExprContext,
  attempt: number,
  signal: AbortSignal,
): Promise<unknown> {
  let rendered: unknown;
  try {
    rendered = await render(tool.http, scope, `tools.${tool.name}.http`);
  } catch (err) {
    const e = renderError(err);
    throw new FatalError(e.code, e.message);
  }
  const parsed = http.config.safeParse(rendered);
  if (!parsed.success)
    throw new FatalError(
      "invalid_config",
      `tools.${tool.name}.http: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const r = await http.run({
    ...ctx,
    config: parsed.data,
    signal,
    attempt,
    idempotencyKey: `${ctx.idempotencyKey}:${step}`,
  });
  // The model is told what an http caller needs: the status and the body (headers are noise in its context).
  if ("ok" in r && r.ok) {
    const o = r.output as { status: number; body: unknown };
    return { status: o.status, body: o.body };
  }
  throw new FatalError("tool_error", "the http tool did not answer");
}

async function transformCall(expression: string, scope: ExprContext): Promise<unknown> {
  let out: unknown;
  try {
    out = await evaluate(expression, scope);
  } catch (err) {
    const e = renderError(err);
    throw new FatalError(e.code === "template_undefined" ? e.code : "expression_error", e.message);
  }
  if (out === undefined) throw new FatalError("template_undefined", "the transform yielded no value");
  return out;
}

function renderError(err: unknown): { code: string; message: string } {
  if (err instanceof UndefinedValueError) return { code: "template_undefined", message: err.message };
  return { code: "template_error", message: err instanceof Error ? err.message : String(err) };
}

/** A result too big to give the model is an error it is told about, not a silently cut answer. */
function sized(o: ToolOutcome): ToolOutcome {
  if (o.status !== "ok") return o;
  const chars = JSON.stringify(o.output ?? null).length;
  if (chars <= MAX_TOOL_RESULT_CHARS) return o;
  return {
    status: "error",
    error: {
      code: "tool_result_too_large",
      message: `the result is ${chars} characters of JSON; a tool gives the model at most ${MAX_TOOL_RESULT_CHARS}`,
    },
    attempts: o.attempts,
    latency_ms: o.latency_ms,
  };
}

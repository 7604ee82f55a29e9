// The `agent` node: a model and tools in a loop — the model answers or calls tools, the calls run, their results go
// back, until it answers or max_turns is spent. Every model turn and every tool call is a durable step in the
// execution's storage, so a crash, an eviction, a wait for an approval or a child, or a retry of the node resumes the
// loop where it was: a completed call is never sent again and a paid turn never paid again.
import type { ModelMessage, ToolResultPart } from "ai";
import { FatalError, type NodeExecutor, type RunContext, type StepJournal } from "../types";
import { tierMaxTokens } from "../llm/config";
import type { ToolSpec } from "../llm/call";
import { choicesOf, noneSpent, paidCall, withFallback } from "../llm/paid-call";
import { loadNamedSecrets, secretNamesIn } from "../secrets";
import { agentConfig, agentSpec, type AgentConfig } from "./config";
import { runToolCall, stepId, type ToolCallAsked, type ToolOutcome } from "./tools";

/** One model turn as recorded: what it said, the calls it asked for, and what it cost. */
interface TurnRecord {
  model: string;
  provider: string;
  text: string;
  tool_calls: ToolCallAsked[];
  usage: { input_tokens: number; output_tokens: number };
  cost_usd: number;
  latency_ms: number;
  fallback_from?: { model: string; error: string }[];
  warnings?: string[];
}

/** A turn in the node's output (its transcript): the turn and each call with how it ended. */
type TranscriptTurn = Omit<TurnRecord, "tool_calls"> & {
  turn: number;
  tool_calls: (ToolCallAsked & ToolOutcome)[];
};

export const agent: NodeExecutor<typeof agentConfig> = {
  ...agentSpec,
  config: agentConfig,
  defaultTimeoutMs: 300_000,
  async run(ctx) {
    const c = ctx.config;
    if (typeof c.messages === "string")
      throw new FatalError("invalid_config", `messages: ${c.messages} yielded no messages`);
    const steps = ctx.services.steps(ctx.idempotencyKey);
    // Tools are rendered per call, so the attempt did not load the secrets they name.
    const secrets = await loadNamedSecrets(secretNamesIn(JSON.stringify(c.tools)), ctx.services);
    const specs: ToolSpec[] = c.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.input_schema,
    }));
    const messages: ModelMessage[] = [...c.messages];
    const transcript: TranscriptTurn[] = [];
    let toolErrors = 0;
    for (let turn = 1; turn <= c.max_turns; turn++) {
      const said =
        (steps.get(`turn:${turn}`) as TurnRecord | undefined) ?? (await modelTurn(ctx, steps, turn, messages, specs));
      const record: TranscriptTurn = { turn, ...said, tool_calls: [] };
      transcript.push(record);
      if (said.tool_calls.length === 0) return { ok: true, output: finalOutput(said.text, transcript) };
      messages.push({
        role: "assistant",
        content: [
          ...(said.text ? [{ type: "text" as const, text: said.text }] : []),
          ...said.tool_calls.map((call) => ({
            type: "tool-call" as const,
            toolCallId: call.id,
            toolName: call.name,
            input: call.input,
          })),
        ],
      });
      const results: ToolResultPart[] = [];
      for (const [i, call] of said.tool_calls.entries()) {
        const step = stepId(turn, i);
        let outcome = steps.get(`tool:${step}`) as ToolOutcome | undefined;
        if (outcome === undefined) {
          const done = await runToolCall(ctx, steps, step, call, secrets);
          if ("wait" in done) return done.wait;
          outcome = done;
          steps.put(`tool:${step}`, outcome);
        }
        if (outcome.status === "invalid") toolErrors += 1;
        record.tool_calls.push({ ...call, ...outcome });
        results.push(resultPart(call, outcome));
      }
      if (toolErrors > c.max_tool_errors)
        throw new FatalError(
          "agent_tool_errors",
          `the model made ${toolErrors} calls with bad arguments or to unknown tools (max_tool_errors ${c.max_tool_errors}); the last: ${lastInvalid(transcript)}`,
        );
      messages.push({ role: "tool", content: results });
    }
    throw new FatalError(
      "agent_max_turns",
      `the model was still calling tools after max_turns (${c.max_turns}); raise max_turns or narrow the task`,
    );
  },
};

/** One model turn, paid and recorded before the loop goes on: a resumed attempt replays it instead. */
async function modelTurn(
  ctx: RunContext<AgentConfig>,
  steps: StepJournal,
  turn: number,
  messages: ModelMessage[],
  tools: ToolSpec[],
): Promise<TurnRecord> {
  const c = ctx.config;
  const vars = ctx.services.env as unknown as Record<string, unknown>;
  const spent = noneSpent();
  const ids = { signal: ctx.signal, idempotencyKey: `${ctx.idempotencyKey}:turn${turn}`, attempt: ctx.attempt };
  const shape = { system: c.system, temperature: c.temperature, stream: c.stream, tools };
  const { value, passed } = await withFallback(ctx.services, choicesOf(c), ctx.lastAttempt, async (target, choice) => {
    const wanted = c.max_tokens ?? (choice.tier ? tierMaxTokens(vars, choice.tier) : null) ?? 1024;
    const limit = target.facts.output_limit;
    const res = await paidCall(
      ctx.services,
      target,
      shape,
      messages,
      limit !== null ? Math.min(wanted, limit) : wanted,
      false,
      ids,
      spent,
    );
    if (res.truncated)
      throw new FatalError(
        "llm_truncated",
        `${target.provider}:${res.model} cut turn ${turn} at max_tokens ${wanted}: raise max_tokens`,
      );
    return { res, provider: target.provider };
  });
  const said: TurnRecord = {
    model: value.res.model,
    provider: value.provider,
    text: value.res.text,
    tool_calls: value.res.tool_calls,
    usage: spent.usage,
    cost_usd: spent.cost_usd,
    latency_ms: spent.latency_ms,
    ...(passed.length ? { fallback_from: passed } : {}),
    ...(spent.warnings.length ? { warnings: spent.warnings } : {}),
  };
  steps.put(`turn:${turn}`, said);
  return said;
}

function resultPart(call: ToolCallAsked, o: ToolOutcome): ToolResultPart {
  const base = { type: "tool-result" as const, toolCallId: call.id, toolName: call.name };
  if (o.status === "ok") return { ...base, output: { type: "json", value: (o.output ?? null) as never } };
  if (o.status === "denied") return { ...base, output: { type: "execution-denied", reason: o.reason } };
  return { ...base, output: { type: "error-text", value: `${o.error.code}: ${o.error.message}` } };
}

function lastInvalid(transcript: TranscriptTurn[]): string {
  const calls = transcript.flatMap((t) => t.tool_calls).filter((c) => c.status === "invalid");
  const last = calls[calls.length - 1];
  return last && last.status === "invalid" ? last.error.message : "none";
}

/** The node's output: the answer, and the transcript with what the whole loop used. */
function finalOutput(text: string, transcript: TranscriptTurn[]) {
  const last = transcript[transcript.length - 1] as TranscriptTurn;
  return {
    text,
    model: last.model,
    provider: last.provider,
    turns: transcript,
    tool_calls: transcript.reduce((n, t) => n + t.tool_calls.length, 0),
    usage: {
      input_tokens: transcript.reduce((n, t) => n + t.usage.input_tokens, 0),
      output_tokens: transcript.reduce((n, t) => n + t.usage.output_tokens, 0),
    },
    cost_usd: transcript.reduce((n, t) => n + t.cost_usd, 0),
  };
}

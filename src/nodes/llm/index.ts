import { z } from "zod";
import { config as appConfig } from "../../env";
import { checkJsonSchema } from "../../engine/input";
import { FatalError, RetryableError, type NodeExecutor, type RunServices } from "../types";
import { priceOf, tierMaxTokens, TIERS, type ResolvedModel, type Tier } from "./config";
import { resolveTarget } from "./resolve";
import { callModel, type ChatMessage, type LlmResponse } from "./call";
import { readJsonAnswer } from "./json-answer";

const message = z
  .object({ role: z.enum(["user", "assistant", "system"]), content: z.string().min(1).max(1_000_000) })
  .strict();

/** The most messages one llm call takes (a conversation's history window stays under it). */
export const MAX_LLM_MESSAGES = 200;
const messageList = z.array(message).min(1).max(MAX_LLM_MESSAGES);
type Message = z.output<typeof message>;

// A union would report a bad element as "Invalid input": checked by hand, each issue keeps its exact path.
const conversation = z
  .unknown()
  .superRefine((value, ctx) => {
    if (typeof value === "string") {
      if (!/^\{\{[\s\S]+\}\}$/.test(value))
        ctx.addIssue({
          code: "custom",
          message: "must be an array of {role, content} or one {{ template }} that yields it",
        });
      return;
    }
    const checked = messageList.safeParse(value);
    if (!checked.success)
      for (const issue of checked.error.issues)
        ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  })
  .transform((value) => value as Message[] | string);

const config = z
  .object({
    tier: z.enum(TIERS).optional(),
    provider: z.string().min(1).max(64).optional(),
    model: z.string().min(1).max(200).optional(),
    system: z.string().max(200_000).optional(),
    /** The conversation, or one {{ template }} that yields it (a history from the input or an upstream node). */
    messages: conversation,
    /** Default: the tier's MODEL_<TIER>_MAX_TOKENS, else 1024. */
    max_tokens: z.number().int().min(1).max(200_000).optional(),
    /**
     * An answer cut by the token limit fails (llm_truncated), is continued from where it stopped until it ends or
     * max_tokens_cap output tokens are spent ("continue"; "retry_with_more" is its older name), or is kept.
     */
    on_truncation: z.enum(["fail", "continue", "retry_with_more", "accept"]).default("fail"),
    /** How many output tokens one answer may take across its continuations (default 4x max_tokens). */
    max_tokens_cap: z.number().int().min(1).max(200_000).optional(),
    /** Tiers or "provider:model" to answer instead when the first is failing (open circuit, or last attempt). */
    fallback: z.array(z.string().min(1).max(264)).max(5).default([]),
    temperature: z.number().min(0).max(2).optional(),
    /** Use the provider's streaming API and log the text as node.delta while it comes (resumable by seq). */
    stream: z.boolean().default(false),
    response_format: z.enum(["text", "json"]).default("text"),
    json_schema: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine(
    (c) => (c.tier !== undefined) !== (c.provider !== undefined || c.model !== undefined),
    "set either tier, or provider and model",
  )
  .refine(
    (c) => c.tier !== undefined || (c.provider !== undefined && c.model !== undefined),
    "provider and model go together",
  )
  .refine((c) => c.json_schema === undefined || c.response_format === "json", "json_schema needs response_format json")
  .refine(
    (c) => c.json_schema === undefined || checkJsonSchema(c.json_schema) === null,
    "json_schema is not a valid JSON Schema",
  )
  .refine((c) => c.fallback.every((f) => choiceOf(f) !== null), "fallback entries are tiers or provider:model");
type LlmConfig = z.output<typeof config>;
type Choice = { tier?: Tier; provider?: string; model?: string };

/** A fallback entry: a tier name, or "provider:model". */
function choiceOf(entry: string): Choice | null {
  if ((TIERS as readonly string[]).includes(entry)) return { tier: entry as Tier };
  const at = entry.indexOf(":");
  return at > 0 && at < entry.length - 1 ? { provider: entry.slice(0, at), model: entry.slice(at + 1) } : null;
}

/**
 * A call to a language model by tier or by provider + model, with budget, circuit breaker, truncation and JSON
 * checks, and fallbacks: the next model answers when the one before has an open circuit, or fails retryably on the
 * node's last attempt. The output names the model that answered.
 */
export const llm: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 120_000,
  async run({ config: c, signal, idempotencyKey, attempt, lastAttempt, services }) {
    if (typeof c.messages === "string")
      throw new FatalError("invalid_config", `messages: ${c.messages} yielded no messages`);
    const vars = services.env as unknown as Record<string, unknown>;
    const choices: Choice[] = [
      c.tier ? { tier: c.tier } : { provider: c.provider as string, model: c.model as string },
      ...c.fallback.map((f) => choiceOf(f) as Choice),
    ];
    const passed: { model: string; error: string }[] = [];
    for (const [i, choice] of choices.entries()) {
      const resolved = resolveTarget(vars, choice);
      const last = i === choices.length - 1;
      if (!resolved.ok) {
        if (i === 0 || last) throw new FatalError(resolved.code, resolved.message);
        passed.push({ model: describe(choice), error: resolved.code });
        continue;
      }
      try {
        const out = await answer(services, resolved.target, choice, c, c.messages, { signal, idempotencyKey, attempt });
        return { ok: true, output: passed.length ? { ...out, fallback_from: passed } : out };
      } catch (err) {
        // An open circuit passes on at once; another retryable failure only when no retry of this node follows.
        const passOn = err instanceof RetryableError && (err.code === "circuit_open" || lastAttempt);
        if (last || !passOn) throw err;
        passed.push({ model: describe(choice), error: err.code });
      }
    }
    throw new FatalError("no_model", "no model was left to try");
  },
};

const describe = (c: Choice): string => c.tier ?? `${c.provider}:${c.model}`;

/** The calls one answer took: summed usage, cost and time, and what the layer changed on the way. */
interface Spent {
  calls: number;
  usage: { input_tokens: number; output_tokens: number };
  cost_usd: number;
  cost_source: "provider" | "price_table" | "unknown";
  latency_ms: number;
  warnings: string[];
}

/**
 * One model's answer: the output limit, the first call, continuations of a cut answer, and for JSON one more turn
 * inside the same attempt that shows the model what was wrong (every call budgeted, counted and paid).
 */
async function answer(
  services: RunServices,
  target: ResolvedModel,
  choice: Choice,
  c: LlmConfig,
  messages: Message[],
  call: { signal: AbortSignal; idempotencyKey: string; attempt: number },
) {
  const vars = services.env as unknown as Record<string, unknown>;
  const spent: Spent = {
    calls: 0,
    usage: { input_tokens: 0, output_tokens: 0 },
    cost_usd: 0,
    cost_source: "unknown",
    latency_ms: 0,
    warnings: [],
  };
  let maxTokens = c.max_tokens ?? (choice.tier ? tierMaxTokens(vars, choice.tier) : null) ?? 1024;
  const limit = target.facts.output_limit;
  if (limit !== null && maxTokens > limit) {
    spent.warnings.push(
      `max_tokens ${maxTokens} is above ${describeTarget(target)}'s output limit of ${limit}: clamped to ${limit}`,
    );
    maxTokens = limit;
  }
  const cap = Math.max(maxTokens, c.max_tokens_cap ?? Math.min(200_000, maxTokens * 4));
  const json = c.response_format === "json";
  // `from`: where in the answer this call's text goes (0 for a whole answer, the length so far for a continuation),
  // so a client streaming node.delta replaces or extends what it has exactly as the output will.
  const ask = (conversation: Message[], tokens: number, structured: boolean, from = 0) =>
    paidCall(services, target, c, conversation, tokens, structured, call, spent, from);

  let res = await ask(messages, maxTokens, json);
  let text = res.text;
  const continues = c.on_truncation === "continue" || c.on_truncation === "retry_with_more";
  while (res.truncated && continues && spent.usage.output_tokens < cap) {
    // The rest of a cut answer, not the whole answer again with more tokens: only the new part is paid as output.
    text = target.sdk === "anthropic" ? text.trimEnd() : text;
    const tokens = Math.min(maxTokens, cap - spent.usage.output_tokens);
    res = await ask(continuation(target, messages, text), tokens, false, text.length);
    text += res.text;
  }
  if (res.truncated && c.on_truncation !== "accept") {
    const hint = continues ? `max_tokens_cap (${cap}) was reached` : "raise max_tokens, or set on_truncation";
    throw new FatalError(
      "llm_truncated",
      `${target.provider}:${res.model} cut its answer at max_tokens ${maxTokens}: ${hint}`,
    );
  }
  // What the output says of the calls this answer took, read once they are all made (a repair turn adds one).
  const summary = () => ({
    model: res.model,
    provider: target.provider,
    usage: spent.usage,
    cost_usd: spent.cost_usd,
    cost_source: spent.cost_source,
    latency_ms: spent.latency_ms,
    max_tokens: maxTokens,
    ...(spent.calls > 1 ? { calls: spent.calls } : {}),
    ...(res.truncated ? { truncated: true } : {}),
    ...(spent.warnings.length ? { warnings: spent.warnings } : {}),
  });
  if (!json) return { text, ...summary() };
  let parsed = readJsonAnswer(text, c.json_schema);
  if (parsed.ok) return { json: parsed.value, ...summary() };
  const retry = await ask(
    [
      ...messages,
      { role: "assistant", content: text || "(empty)" },
      { role: "user", content: repairPrompt(parsed.problem) },
    ],
    maxTokens,
    true,
  );
  parsed = readJsonAnswer(retry.text, c.json_schema);
  if (!parsed.ok)
    throw new RetryableError(
      "invalid_json_response",
      `the model's answer is not the JSON asked for, twice in this attempt: ${parsed.problem}`,
    );
  return { json: parsed.value, ...summary(), repaired: true };
}

const describeTarget = (t: ResolvedModel) => `${t.provider}:${t.model}`;

const repairPrompt = (problem: string) =>
  `Your previous answer could not be used: ${problem}. Answer again with only the corrected JSON value, nothing else.`;

/**
 * The conversation that asks for the rest of a cut answer. Anthropic continues an assistant message given as the
 * last turn (prefill); other providers are asked to continue it.
 */
function continuation(target: ResolvedModel, messages: Message[], sofar: string): Message[] {
  const prefix: Message[] = [...messages, { role: "assistant", content: sofar }];
  if (target.sdk === "anthropic" || (target.sdk === "bedrock" && target.facts.family === "anthropic")) return prefix;
  return [
    ...prefix,
    {
      role: "user",
      content:
        "Your answer was cut off by the output limit. Continue exactly where it stopped: no repetition, no preface.",
    },
  ];
}

/** One paid call: its worst case reserved, the breaker consulted, usage recorded whatever became of the answer. */
async function paidCall(
  services: RunServices,
  target: ResolvedModel,
  c: LlmConfig,
  messages: ChatMessage[],
  maxTokens: number,
  structured: boolean,
  call: { signal: AbortSignal; idempotencyKey: string; attempt: number },
  spent: Spent,
  from: number,
): Promise<LlmResponse> {
  const reservation = await reserve(services, worstCase(services, target, c, messages, maxTokens));
  let cost = 0;
  const started = Date.now();
  const deltas = c.stream ? batched(from, (text, offset) => services.delta(text, offset)) : null;
  let res: LlmResponse;
  try {
    res = await guarded(services, target, () =>
      callModel(services.env, target, {
        system: c.system,
        messages,
        max_tokens: maxTokens,
        temperature: c.temperature,
        json: structured,
        schema: structured ? c.json_schema : undefined,
        ...call,
        traceparent: services.traceparent(),
        onText: deltas?.push,
      }),
    );
    deltas?.flush();
    cost = costOf(services.env, target, res).cost_usd;
  } finally {
    // The reservation becomes the real cost (none, when the call failed before an answer).
    if (reservation) await services.settleBudget(reservation, cost);
  }
  const latency = Date.now() - started;
  const priced = costOf(services.env, target, res);
  // Recorded before the answer is judged: a cut or rejected answer cost money too.
  services.recordUsage({ provider: target.provider, model: res.model, ...res.usage, ...priced, latency_ms: latency });
  spent.calls++;
  spent.usage.input_tokens += res.usage.input_tokens;
  spent.usage.output_tokens += res.usage.output_tokens;
  spent.cost_usd += priced.cost_usd;
  if (spent.calls === 1 || priced.cost_source !== "unknown") spent.cost_source = priced.cost_source;
  spent.latency_ms += latency;
  for (const w of res.warnings) if (!spent.warnings.includes(w)) spent.warnings.push(w);
  return res;
}

/**
 * A call's worst case at the price table: the prompt (about 4 characters a token) and every token max_tokens
 * allows. Zero for a model with no price: its calls are counted after the fact only.
 */
function worstCase(
  services: RunServices,
  target: ResolvedModel,
  c: LlmConfig,
  messages: Message[],
  maxTokens: number,
): number {
  const price = priceOf(services.env as unknown as Record<string, unknown>, target.provider, target.model);
  if (!price) return 0;
  const chars = (c.system?.length ?? 0) + messages.reduce((n, m) => n + m.content.length, 0);
  const promptTokens = Math.ceil(chars / 4) + 4 * messages.length;
  return (promptTokens * price.input_per_mtok + maxTokens * price.output_per_mtok) / 1e6;
}

// node.delta batching: a message at most this often, or sooner once this much text waits.
const DELTA_EVERY_MS = 50;
const DELTA_CHARS = 200;

/**
 * Collect streamed text and pass it on in pieces of about DELTA_CHARS or DELTA_EVERY_MS, whichever comes first, each
 * with its offset in the answer (starting at `from`).
 */
function batched(
  from: number,
  send: (text: string, offset: number) => void,
): { push: (text: string) => void; flush: () => void } {
  let pending = "";
  let offset = from;
  let last = Date.now();
  const flush = () => {
    if (pending) send(pending, offset);
    offset += pending.length;
    pending = "";
    last = Date.now();
  };
  return {
    push: (text) => {
      pending += text;
      if (pending.length >= DELTA_CHARS || Date.now() - last >= DELTA_EVERY_MS) flush();
    },
    flush,
  };
}

/** Reserve the call's worst case, or refuse it: what is reserved and spent never passes the budget. */
async function reserve(services: RunServices, amount: number): Promise<string | null> {
  const r = await services.reserveBudget(amount);
  if (r.ok) return r.id;
  if (r.budget <= 0)
    throw new FatalError("BUDGET_EXCEEDED", "the tenant's monthly LLM budget is 0: no LLM calls are allowed");
  throw new FatalError(
    "BUDGET_EXCEEDED",
    `this call may cost up to $${amount.toFixed(6)}; with $${r.spent.toFixed(6)} spent and $${r.reserved.toFixed(6)} reserved by calls under way, that passes the monthly budget of $${r.budget}`,
  );
}

/** Consult the provider's breaker; an open breaker fails fast with a retryable error and no call is made. */
async function guarded(
  services: RunServices,
  target: ResolvedModel,
  call: () => Promise<LlmResponse>,
): Promise<LlmResponse> {
  const cfg = breakerSettings(services.env);
  const breaker = services.breaker(target.provider);
  const gate = await breaker.allow(cfg);
  if (!gate.allowed)
    throw new RetryableError(
      "circuit_open",
      `provider "${target.provider}" is failing; its circuit is open for ${gate.retry_after_ms} ms more`,
      gate.retry_after_ms,
    );
  try {
    const res = await call();
    await breaker.record(true, cfg);
    return res;
  } catch (err) {
    // Only failures that say the provider is unwell count; a 400 for a bad prompt does not.
    if (err instanceof RetryableError) await breaker.record(false, cfg);
    throw err;
  }
}

export function breakerSettings(env: Env) {
  const c = appConfig(env);
  return { failure_threshold: c.BREAKER_FAILURES, cooldown_ms: c.BREAKER_COOLDOWN_MS };
}

function costOf(
  env: Env,
  t: ResolvedModel,
  res: LlmResponse,
): { cost_usd: number; cost_source: "provider" | "price_table" | "unknown" } {
  if (res.reported_cost_usd !== null) return { cost_usd: res.reported_cost_usd, cost_source: "provider" };
  const price = priceOf(env as unknown as Record<string, unknown>, t.provider, t.model);
  if (!price) return { cost_usd: 0, cost_source: "unknown" };
  return {
    cost_usd: (res.usage.input_tokens * price.input_per_mtok + res.usage.output_tokens * price.output_per_mtok) / 1e6,
    cost_source: "price_table",
  };
}

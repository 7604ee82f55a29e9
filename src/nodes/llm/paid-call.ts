// One paid model call as every node that talks to a model makes it (llm, agent): the worst case reserved against the
// tenant's budget, the provider's breaker consulted, the text streamed as node.delta when asked, the usage recorded
// whatever became of the answer; and the fallback walk over a node's models.
import type { ModelMessage } from "ai";
import { z } from "zod";
import { config as appConfig } from "../../env";
import { FatalError, RetryableError, type RunServices } from "../types";
import { priceOf, TIERS, type ResolvedModel, type Tier } from "./config";
import { throughBreaker } from "../breaker-call";
import { callModel, type LlmResponse, type ToolSpec } from "./call";
import { resolveTarget } from "./resolve";
import { providerTurn } from "./provider-turn";

export type Choice = { tier?: Tier; provider?: string; model?: string };

/** A fallback entry: a tier name, or "provider:model". */
export function choiceOf(entry: string): Choice | null {
  if ((TIERS as readonly string[]).includes(entry)) return { tier: entry as Tier };
  const at = entry.indexOf(":");
  return at > 0 && at < entry.length - 1 ? { provider: entry.slice(0, at), model: entry.slice(at + 1) } : null;
}

export const describeChoice = (c: Choice): string => c.tier ?? `${c.provider}:${c.model}`;

/** How a node names its model (llm and agent alike): a tier, or provider and model, and fallbacks. */
export const choiceFields = {
  tier: z.enum(TIERS).optional(),
  provider: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(200).optional(),
  /** Tiers or "provider:model" to answer instead when the first is failing (open circuit, or last attempt). */
  fallback: z.array(z.string().min(1).max(264)).max(5).default([]),
};

type ChoiceConfig = {
  tier?: Tier | undefined;
  provider?: string | undefined;
  model?: string | undefined;
  fallback: string[];
};

/** The checks of choiceFields that span fields: one way to name the model, and fallbacks that name models. */
export function refineChoice<T extends z.ZodType<ChoiceConfig>>(schema: T): T {
  return schema
    .refine(
      (c) => (c.tier !== undefined) !== (c.provider !== undefined || c.model !== undefined),
      "set either tier, or provider and model",
    )
    .refine(
      (c) => c.tier !== undefined || (c.provider !== undefined && c.model !== undefined),
      "provider and model go together",
    )
    .refine((c) => c.fallback.every((f) => choiceOf(f) !== null), "fallback entries are tiers or provider:model");
}

/** A node's models in order: its own (tier, or provider and model), then its fallbacks. */
export function choicesOf(c: {
  tier?: Tier | undefined;
  provider?: string | undefined;
  model?: string | undefined;
  fallback: string[];
}): Choice[] {
  return [
    c.tier ? { tier: c.tier } : { provider: c.provider as string, model: c.model as string },
    ...c.fallback.map((f) => choiceOf(f) as Choice),
  ];
}

/**
 * Ask each model in turn: the next answers when the one before has an open circuit, or fails retryably on the node's
 * last attempt (no retry of the node follows). `passed` names the models passed over, and why.
 */
export async function withFallback<T>(
  services: RunServices,
  choices: Choice[],
  lastAttempt: boolean,
  ask: (target: ResolvedModel, choice: Choice) => Promise<T>,
): Promise<{ value: T; passed: { model: string; error: string }[] }> {
  const vars = services.env as unknown as Record<string, unknown>;
  const passed: { model: string; error: string }[] = [];
  for (const [i, choice] of choices.entries()) {
    const resolved = resolveTarget(vars, choice);
    const last = i === choices.length - 1;
    if (!resolved.ok) {
      if (i === 0 || last) throw new FatalError(resolved.code, resolved.message);
      passed.push({ model: describeChoice(choice), error: resolved.code });
      continue;
    }
    try {
      return { value: await ask(resolved.target, choice), passed };
    } catch (err) {
      // A call waiting for its provider window keeps its model: waiting costs nothing, another model may.
      const passOn = err instanceof RetryableError && !err.deferred && (err.code === "circuit_open" || lastAttempt);
      if (last || !passOn) throw err;
      passed.push({ model: describeChoice(choice), error: err.code });
    }
  }
  throw new FatalError("no_model", "no model was left to try");
}

/** The calls one answer took: summed usage, cost and time, and what the layer changed on the way. */
export interface Spent {
  calls: number;
  usage: { input_tokens: number; output_tokens: number };
  cost_usd: number;
  cost_source: "provider" | "price_table" | "unknown";
  latency_ms: number;
  warnings: string[];
}

export const noneSpent = (): Spent => ({
  calls: 0,
  usage: { input_tokens: 0, output_tokens: 0 },
  cost_usd: 0,
  cost_source: "unknown",
  latency_ms: 0,
  warnings: [],
});

/** What a call asks of the model beyond its messages. */
export interface CallShape {
  system?: string | undefined;
  temperature?: number | undefined;
  /** Log the text as node.delta while it comes. */
  stream: boolean;
  json_schema?: Record<string, unknown> | undefined;
  tools?: ToolSpec[] | undefined;
}

export interface CallIds {
  signal: AbortSignal;
  idempotencyKey: string;
  attempt: number;
}

/**
 * One paid call: its worst case reserved, the breaker consulted, usage recorded whatever became of the answer.
 * `from`: where in the node's streamed answer this call's text goes (0 replaces what a client has).
 */
export async function paidCall(
  services: RunServices,
  target: ResolvedModel,
  shape: CallShape,
  messages: ModelMessage[],
  maxTokens: number,
  structured: boolean,
  call: CallIds,
  spent: Spent,
  from = 0,
): Promise<LlmResponse> {
  const prompt = promptTokens(shape, messages);
  await admitted(services, target, prompt + maxTokens);
  const reservation = await reserve(services, worstCase(services, target, prompt, maxTokens));
  let cost = 0;
  const started = Date.now();
  const deltas = shape.stream ? batched(from, (text, offset) => services.delta(text, offset)) : null;
  let res: LlmResponse;
  try {
    res = await guarded(services, target, () =>
      callModel(services.env, target, {
        system: shape.system,
        messages,
        max_tokens: maxTokens,
        temperature: shape.temperature,
        json: structured,
        schema: structured ? shape.json_schema : undefined,
        tools: shape.tools,
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

const lengthOf = (content: unknown): number =>
  typeof content === "string" ? content.length : JSON.stringify(content ?? "").length;

/** A prompt's tokens as providers estimate them before a call: about 4 characters a token, tools included. */
function promptTokens(shape: CallShape, messages: ModelMessage[]): number {
  const chars =
    (shape.system?.length ?? 0) +
    (shape.tools ? JSON.stringify(shape.tools).length : 0) +
    messages.reduce((n, m) => n + lengthOf(m.content), 0);
  return Math.ceil(chars / 4) + 4 * messages.length;
}

/**
 * A call's worst case at the price table: the prompt and every token max_tokens allows. Zero for a model with no
 * price: its calls are counted after the fact only.
 */
function worstCase(services: RunServices, target: ResolvedModel, prompt: number, maxTokens: number): number {
  const price = priceOf(services.env as unknown as Record<string, unknown>, target.provider, target.model);
  if (!price) return 0;
  return (prompt * price.input_per_mtok + maxTokens * price.output_per_mtok) / 1e6;
}

/**
 * Take the call's place in its provider window (PROVIDER_LIMITS), counted as the provider counts it (the prompt
 * estimate plus max_tokens). A full window defers the attempt until the call fits, on the execution's alarm and
 * not counted as an attempt, so the provider never answers 429 for what we could have known.
 */
async function admitted(services: RunServices, target: ResolvedModel, tokens: number): Promise<void> {
  const asked = await providerTurn(services.env, services.breaker(target.provider), target, tokens, services.lane);
  if (!asked || asked.turn.ok) return;
  const { bucket, windowMs, turn } = asked;
  if ("never" in turn) throw new FatalError("over_provider_limit", `${bucket}: ${turn.never}`);
  throw new RetryableError(
    "provider_window_full",
    `${bucket} has taken its share of this ${windowMs / 1000} s window; this call (${tokens} tokens) waits ${turn.wait_ms} ms for its turn`,
    turn.wait_ms,
    { deferred: true },
  );
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
  return throughBreaker(
    services.breaker(target.provider),
    breakerSettings(services.env),
    (ms) => `provider "${target.provider}" is failing; its circuit is open for ${ms} ms more`,
    call,
    // Only failures that say the provider is unwell count; a 400 for a bad prompt does not.
    (err) => (err instanceof RetryableError ? false : null),
  );
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

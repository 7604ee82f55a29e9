import { Validator, type Schema } from "@cfworker/json-schema";
import { z } from "zod";
import { config as appConfig } from "../../env";
import { checkJsonSchema } from "../../engine/input";
import { FatalError, RetryableError, type NodeExecutor, type RunServices } from "../types";
import { priceOf, TIERS, type ResolvedModel } from "./config";
import { resolveTarget } from "./resolve";
import { callModel, type LlmResponse } from "./providers";

const message = z
  .object({ role: z.enum(["user", "assistant", "system"]), content: z.string().min(1).max(200_000) })
  .strict();

const config = z
  .object({
    tier: z.enum(TIERS).optional(),
    provider: z.string().min(1).max(64).optional(),
    model: z.string().min(1).max(200).optional(),
    system: z.string().max(200_000).optional(),
    messages: z.array(message).min(1).max(200),
    max_tokens: z.number().int().min(1).max(200_000).default(1024),
    temperature: z.number().min(0).max(2).optional(),
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
  );

/** A call to a language model by tier or by provider + model, with budget, circuit breaker and JSON checks. */
export const llm: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 120_000,
  async run({ config: c, signal, idempotencyKey, attempt, services }) {
    const resolved = resolveTarget(services.env as unknown as Record<string, unknown>, c);
    if (!resolved.ok) throw new FatalError(resolved.code, resolved.message);
    const target = resolved.target;
    await checkBudget(services);
    const started = Date.now();
    const res = await guarded(services, target, () =>
      callModel(services.env, target, {
        system: c.system,
        messages: c.messages,
        max_tokens: c.max_tokens,
        temperature: c.temperature,
        json: c.response_format === "json",
        idempotencyKey,
        attempt,
        signal,
        traceparent: services.traceparent(),
      }),
    );
    const latency = Date.now() - started;
    const cost = costOf(services.env, target, res);
    // Recorded before the answer is judged: a call whose JSON is rejected still cost money.
    services.recordUsage({ provider: target.provider, model: res.model, ...res.usage, ...cost, latency_ms: latency });
    const base = { model: res.model, provider: target.provider, usage: res.usage, ...cost, latency_ms: latency };
    if (c.response_format === "text") return { ok: true, output: { text: res.text, ...base } };
    return { ok: true, output: { json: parseJson(res.text, c.json_schema), ...base } };
  },
};

async function checkBudget(services: RunServices): Promise<void> {
  const budget = await services.budget();
  if (budget === null) return;
  if (budget <= 0)
    throw new FatalError("BUDGET_EXCEEDED", "the tenant's monthly LLM budget is 0: no LLM calls are allowed");
  const spent = await services.monthSpend();
  if (spent >= budget)
    throw new FatalError(
      "BUDGET_EXCEEDED",
      `month-to-date LLM spend $${spent.toFixed(6)} has reached the monthly budget of $${budget}`,
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

function parseJson(text: string, schema: Record<string, unknown> | undefined): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text.trim().replace(/^```(?:json)?\s*|\s*```$/g, ""));
  } catch (err) {
    throw new RetryableError(
      "invalid_json_response",
      `the model's answer is not JSON (${err instanceof Error ? err.message : String(err)}): ${text.slice(0, 200)}`,
    );
  }
  if (schema) {
    const result = new Validator(schema as Schema, "2020-12", false).validate(value);
    if (!result.valid) {
      const detail = result.errors
        .filter((e) => e.keyword !== "properties")
        .map((e) => `${e.instanceLocation}: ${e.error}`)
        .join("; ");
      throw new RetryableError("invalid_json_response", `the model's JSON does not match json_schema: ${detail}`);
    }
  }
  return value;
}

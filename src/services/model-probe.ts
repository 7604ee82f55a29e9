// One tiny call to a tier's model: what POST /v1/models/test, the cron's model check and `npm run smoke` rely on
// to tell a working model from a wrong key, an unsupported model or a provider that is down.
import { callModel } from "../nodes/llm/call";
import { TIERS, type Tier } from "../nodes/llm/config";
import { resolveTarget } from "../nodes/llm/resolve";
import type { ResolvedModel } from "../nodes/llm/config";
import { providerTurn } from "../nodes/llm/provider-turn";
import { breakerStub } from "../durable/client";

export interface ProbeResult {
  tier: Tier;
  ok: boolean;
  configured: boolean;
  provider: string | null;
  model: string | null;
  latency_ms: number | null;
  error: string | null;
}

const PROBE_TIMEOUT_MS = 20_000;
const PROBE_MAX_TOKENS = 256;
// "Reply with the single word OK." as providers estimate it (characters / 4, and a message's overhead).
const PROBE_PROMPT_TOKENS = 12;

/** A failing provider is reported as data, never thrown. */
export async function probeTier(env: Env, tier: Tier): Promise<ProbeResult> {
  const r = resolveTarget(env as unknown as Record<string, unknown>, { tier });
  if (!r.ok)
    return { tier, ok: false, configured: false, provider: null, model: null, latency_ms: null, error: r.message };
  const started = Date.now();
  const seen = { tier, configured: true, provider: r.target.provider };
  try {
    await probeTurn(env, r.target);
    const res = await callModel(env, r.target, {
      messages: [{ role: "user", content: "Reply with the single word OK." }],
      // Room for a reasoning model's hidden reasoning: a cut answer still shows the model and key work.
      max_tokens: PROBE_MAX_TOKENS,
      json: false,
      idempotencyKey: `models-test:${tier}:${crypto.randomUUID()}`,
      attempt: 1,
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    return { ...seen, ok: true, model: res.model, latency_ms: Date.now() - started, error: null };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { ...seen, ok: false, model: r.target.model, latency_ms: Date.now() - started, error };
  }
}

/**
 * A check is a call like any other: it takes its place in the model's window (as an interactive call, which keeps a
 * fifth of it) so it never spends what a run was counting on. It waits for its turn up to its own timeout, then
 * goes anyway: a check must not report a busy model as down, and a 429 then is the provider's own answer.
 */
async function probeTurn(env: Env, target: ResolvedModel): Promise<void> {
  const tokens = PROBE_PROMPT_TOKENS + PROBE_MAX_TOKENS;
  const asked = await providerTurn(env, breakerStub(env, target.provider), target, tokens, "interactive");
  if (asked && !asked.turn.ok && "wait_ms" in asked.turn && asked.turn.wait_ms < PROBE_TIMEOUT_MS) {
    await scheduler.wait(asked.turn.wait_ms);
    await providerTurn(env, breakerStub(env, target.provider), target, tokens, "interactive");
  }
}

export const probeTiers = (env: Env): Promise<ProbeResult[]> => Promise.all(TIERS.map((t) => probeTier(env, t)));

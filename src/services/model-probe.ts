// One tiny call to a tier's model: what POST /v1/models/test, the cron's model check and `npm run smoke` rely on
// to tell a working model from a wrong key, an unsupported model or a provider that is down.
import { callModel } from "../nodes/llm/call";
import { TIERS, type Tier } from "../nodes/llm/config";
import { resolveTarget } from "../nodes/llm/resolve";

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

/** A failing provider is reported as data, never thrown. */
export async function probeTier(env: Env, tier: Tier): Promise<ProbeResult> {
  const r = resolveTarget(env as unknown as Record<string, unknown>, { tier });
  if (!r.ok)
    return { tier, ok: false, configured: false, provider: null, model: null, latency_ms: null, error: r.message };
  const started = Date.now();
  const seen = { tier, configured: true, provider: r.target.provider };
  try {
    const res = await callModel(env, r.target, {
      messages: [{ role: "user", content: "Reply with the single word OK." }],
      // Room for a reasoning model's hidden reasoning: a cut answer still shows the model and key work.
      max_tokens: 256,
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

export const probeTiers = (env: Env): Promise<ProbeResult[]> => Promise.all(TIERS.map((t) => probeTier(env, t)));

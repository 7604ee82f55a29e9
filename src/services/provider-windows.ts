// What each metered provider:model (PROVIDER_LIMITS) has taken of its current window, for GET /v1/queues: read from
// the providers' BreakerObjects, which admit every call.
import { breakerStub } from "../durable/client";
import { config } from "../env";
import { parseLimits, type ProviderWindow } from "../engine/provider-limit";

/** Each metered bucket's window, or what is wrong with PROVIDER_LIMITS (every metered call fails saying so too). */
export async function providerWindows(env: Env): Promise<{ windows: ProviderWindow[]; error: string | null }> {
  const parsed = parseLimits(env.PROVIDER_LIMITS);
  if (!parsed.ok) return { windows: [], error: parsed.message };
  const seconds = config(env).PROVIDER_LIMIT_WINDOW_SECONDS;
  const providers = [...new Set(Object.keys(parsed.table).map((k) => k.slice(0, k.indexOf(":"))))];
  const uses = await Promise.all(providers.map((p) => breakerStub(env, p).windowUse(seconds * 1000)));
  const used = new Map(uses.flat().map((u) => [u.bucket, u]));
  const row = (bucket: string, l: { rpm?: number | undefined; tpm?: number | undefined }): ProviderWindow => ({
    bucket,
    rpm: l.rpm ?? null,
    tpm: l.tpm ?? null,
    window_seconds: seconds,
    requests: used.get(bucket)?.requests ?? 0,
    tokens: used.get(bucket)?.tokens ?? 0,
  });
  // Named models always show; a provider's "*" shows each of its models with calls in the window.
  const named = Object.entries(parsed.table).filter(([k]) => !k.endsWith(":*"));
  const rows = named.map(([k, l]) => row(k, l));
  for (const u of used.values()) {
    const any = parsed.table[`${u.bucket.slice(0, u.bucket.indexOf(":"))}:*`];
    if (any && !parsed.table[u.bucket]) rows.push(row(u.bucket, any));
  }
  return { windows: rows, error: null };
}

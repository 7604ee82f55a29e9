// Provider admission: how many requests and tokens a provider:model may take in a window (PROVIDER_LIMITS, counted
// as the provider counts them: the prompt estimate plus every token max_tokens allows, when the request is sent),
// and whether one more call fits now or when it will. The BreakerObject keeps the window's calls; this decides.
import { z } from "zod";
import type { Lane } from "./fair-share";

const limitSchema = z
  .object({
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
  })
  .strict()
  .refine((l) => l.rpm !== undefined || l.tpm !== undefined, "set rpm, tpm or both");
export type ProviderLimit = z.output<typeof limitSchema>;

const tableSchema = z.record(z.string(), limitSchema);

type ParsedLimits = { ok: true; table: Record<string, ProviderLimit> } | { ok: false; message: string };

// Every model call asks: the last text parsed is kept (an isolate sees one PROVIDER_LIMITS).
let last: { raw: string | undefined; parsed: ParsedLimits } | null = null;

/** PROVIDER_LIMITS parsed, or what is wrong with it (a call then fails saying so, rather than going out unmetered). */
export function parseLimits(raw: string | undefined): ParsedLimits {
  if (!last || last.raw !== raw) last = { raw, parsed: parseTable(raw) };
  return last.parsed;
}

function parseTable(raw: string | undefined): ParsedLimits {
  if (!raw || !raw.trim()) return { ok: true, table: {} };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, message: "PROVIDER_LIMITS is not JSON" };
  }
  const badKey = json && typeof json === "object" ? Object.keys(json).find((k) => !/^[^:]+:.+$/.test(k)) : undefined;
  if (badKey !== undefined)
    return { ok: false, message: `PROVIDER_LIMITS.${badKey}: keys are "provider:model" or "provider:*"` };
  const parsed = tableSchema.safeParse(json);
  if (parsed.success) return { ok: true, table: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, message: `PROVIDER_LIMITS.${issue.path.join(".")}: ${issue.message}` };
}

/** The limit of provider:model, or of provider:* when the model has none of its own. */
export function limitFor(
  table: Record<string, ProviderLimit>,
  provider: string,
  model: string,
): { bucket: string; limit: ProviderLimit } | null {
  const own = table[`${provider}:${model}`];
  if (own) return { bucket: `${provider}:${model}`, limit: own };
  const any = table[`${provider}:*`];
  return any ? { bucket: `${provider}:${model}`, limit: any } : null;
}

/**
 * The share of a window the default and batch lanes may fill: the rest is kept for interactive calls (a chat turn,
 * an approval that resumes), so a 10,000-item map cannot take the chat's quota.
 */
export const SHARED_SHARE = 0.8;

/**
 * How much longer than the provider's window a call is counted: a call leaves our window only once it has surely
 * left the provider's, whose clock starts when the request arrives (later than we let it go, by a varying delay).
 */
export const windowSlackMs = (windowMs: number): number => Math.min(1000, Math.floor(windowMs / 4));

export interface WindowCall {
  at: number;
  tokens: number;
  /** The tenant whose call it was ("" for the engine's own model checks). */
  tenant: string;
}

/** A tenant asking for a bucket, with its weight (its `tenants` row; 1 unless an operator set another). */
export interface Contender {
  tenant: string;
  weight: number;
}

export type Admission =
  | { ok: true }
  | { ok: false; wait_ms: number }
  /** The call alone is more than its lane may ever take in one window: no wait makes it fit. */
  | { ok: false; never: string };

/**
 * May a call of `tokens` go out at `now`, given the calls of the window (oldest first)? If not, how long until
 * enough of them have left the window for it to fit. Never answers a wait after which the call would still not fit.
 *
 * Tenants share a window by weight, and only under contention: `wanting` are the other tenants refused lately (they
 * have calls waiting). Each of them is kept what it uses or its weighted share of the lane's limit, whichever is more;
 * tenants that get all they ask for are kept only what they use. So a tenant alone, or beside tenants that ask little,
 * may take the whole window (work-conserving), and one with a 10,000-item map cannot hold another that also waits
 * below its share.
 */
export function admitCall(
  calls: readonly WindowCall[],
  now: number,
  windowMs: number,
  limit: ProviderLimit,
  tokens: number,
  lane: Lane,
  who: Contender = { tenant: "", weight: 1 },
  wanting: readonly Contender[] = [],
): Admission {
  const share = lane === "interactive" ? 1 : SHARED_SHARE;
  const rpm = limit.rpm === undefined ? Infinity : Math.max(1, Math.floor(limit.rpm * share));
  const tpm = limit.tpm === undefined ? Infinity : Math.floor(limit.tpm * share);
  if (tokens > tpm)
    return {
      ok: false,
      never: `this call counts ${tokens} tokens, more than the ${tpm} its lane (${lane}) may take in a window of ${windowMs / 1000} s`,
    };
  const span = windowMs + windowSlackMs(windowMs);
  const live = calls.filter((c) => c.at > now - span);
  const others = wanting.filter((o) => o.tenant !== who.tenant);
  const weights = others.reduce((sum, o) => sum + o.weight, who.weight);
  const fits = (from: number): boolean => {
    const used = new Map<string, { requests: number; tokens: number }>();
    for (let i = from; i < live.length; i++) {
      const c = live[i] as WindowCall;
      const u = used.get(c.tenant) ?? { requests: 0, tokens: 0 };
      used.set(c.tenant, { requests: u.requests + 1, tokens: u.tokens + c.tokens });
    }
    let requests = rpm;
    let room = tpm;
    for (const [tenant, u] of used) {
      if (tenant === who.tenant) continue;
      const o = others.find((x) => x.tenant === tenant);
      requests -= o ? Math.max(u.requests, (rpm * o.weight) / weights) : u.requests;
      room -= o ? Math.max(u.tokens, (tpm * o.weight) / weights) : u.tokens;
    }
    // Waiting tenants with nothing in the window yet are kept their share all the same.
    for (const o of others) {
      if (used.has(o.tenant)) continue;
      requests -= (rpm * o.weight) / weights;
      room -= (tpm * o.weight) / weights;
    }
    const mine = used.get(who.tenant) ?? { requests: 0, tokens: 0 };
    // An unlimited dimension stays unlimited (Infinity minus a share is NaN).
    return (rpm === Infinity || mine.requests + 1 <= requests) && (tpm === Infinity || mine.tokens + tokens <= room);
  };
  if (fits(0)) return { ok: true };
  // Let the oldest calls leave the window one by one until this one fits.
  for (let i = 0; i < live.length; i++)
    if (fits(i + 1)) return { ok: false, wait_ms: Math.max(1, (live[i] as WindowCall).at + span - now + 1) };
  return { ok: false, wait_ms: span };
}

/**
 * Until when a refused tenant counts as waiting for a bucket: past the wait it was told, by a margin for the call to
 * come back. Granted calls register nothing: a tenant that gets what it asks for needs no share kept.
 */
export function waitingUntil(decision: Admission, now: number): number | null {
  return !decision.ok && "wait_ms" in decision ? now + decision.wait_ms + WAITING_MARGIN_MS : null;
}

const WAITING_MARGIN_MS = 2_000;

/** What one metered provider:model took of its current window (GET /v1/queues, the dashboard's Queues page). */
export interface ProviderWindow {
  bucket: string;
  rpm: number | null;
  tpm: number | null;
  window_seconds: number;
  requests: number;
  tokens: number;
}

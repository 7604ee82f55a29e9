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
}

export type Admission =
  | { ok: true }
  | { ok: false; wait_ms: number }
  /** The call alone is more than its lane may ever take in one window: no wait makes it fit. */
  | { ok: false; never: string };

/**
 * May a call of `tokens` go out at `now`, given the calls of the window (oldest first)? If not, how long until
 * enough of them have left the window for it to fit. Never answers a wait after which the call would still not fit.
 */
export function admitCall(
  calls: readonly WindowCall[],
  now: number,
  windowMs: number,
  limit: ProviderLimit,
  tokens: number,
  lane: Lane,
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
  let used = live.reduce((s, c) => s + c.tokens, 0);
  let count = live.length;
  if (count + 1 <= rpm && used + tokens <= tpm) return { ok: true };
  // Let the oldest calls leave the window one by one until this one fits.
  for (const c of live) {
    used -= c.tokens;
    count -= 1;
    if (count + 1 <= rpm && used + tokens <= tpm) return { ok: false, wait_ms: Math.max(1, c.at + span - now + 1) };
  }
  return { ok: false, wait_ms: span };
}

/** What one metered provider:model took of its current window (GET /v1/queues, the dashboard's Queues page). */
export interface ProviderWindow {
  bucket: string;
  rpm: number | null;
  tpm: number | null;
  window_seconds: number;
  requests: number;
  tokens: number;
}

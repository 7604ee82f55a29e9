// A call through a circuit breaker (a BreakerObject, shared by every isolate): refused at once while it is open,
// its outcome recorded after. The LLM providers and http nodes that ask for one go through here.
import type { BreakerSettings } from "../engine/breaker";
import { RetryableError, type RunServices } from "./types";

/**
 * Make `call` unless the breaker is open (then a retryable circuit_open, its cool-down as the retry's floor).
 * `verdict` says what a failure tells of the other side: false unwell, true it answered, null nothing.
 */
export async function throughBreaker<T>(
  breaker: ReturnType<RunServices["breaker"]>,
  cfg: BreakerSettings,
  refused: (retryAfterMs: number) => string,
  call: () => Promise<T>,
  verdict: (err: unknown) => boolean | null,
): Promise<T> {
  const gate = await breaker.allow(cfg);
  if (!gate.allowed) throw new RetryableError("circuit_open", refused(gate.retry_after_ms), gate.retry_after_ms);
  try {
    const result = await call();
    await breaker.record(true, cfg);
    return result;
  } catch (err) {
    const ok = verdict(err);
    if (ok !== null) await breaker.record(ok, cfg);
    throw err;
  }
}

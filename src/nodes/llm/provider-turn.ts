// A model call's place in its provider window (PROVIDER_LIMITS, src/engine/provider-limit.ts), asked of the
// provider's BreakerObject (the RunServices one, or the probe's stub): by every paid call (paid-call.ts) and by the
// model checks (services/model-probe.ts).
import { config } from "../../env";
import type { Lane } from "../../engine/fair-share";
import { limitFor, parseLimits, type Admission } from "../../engine/provider-limit";
import { FatalError, type RunServices } from "../types";
import type { ResolvedModel } from "./config";

/** The call may go (`null`: its model is not metered), or the window's answer. Bad PROVIDER_LIMITS throws. */
export async function providerTurn(
  env: Env,
  breaker: Pick<ReturnType<RunServices["breaker"]>, "takeCall">,
  target: ResolvedModel,
  tokens: number,
  lane: Lane,
): Promise<{ bucket: string; windowMs: number; turn: Admission } | null> {
  const limits = parseLimits(env.PROVIDER_LIMITS);
  if (!limits.ok) throw new FatalError("provider_limits_invalid", limits.message);
  const found = limitFor(limits.table, target.provider, target.model);
  if (!found) return null;
  const windowMs = config(env).PROVIDER_LIMIT_WINDOW_SECONDS * 1000;
  const turn = await breaker.takeCall(found.bucket, found.limit, windowMs, tokens, lane);
  return { bucket: found.bucket, windowMs, turn };
}

import { DurableObject } from "cloudflare:workers";
import { admit, CLOSED, recordOutcome, type BreakerSettings, type BreakerState } from "../engine/breaker";
import type { Lane } from "../engine/fair-share";
import { admitCall, type Admission, type ProviderLimit } from "../engine/provider-limit";
import { ProviderWindowStore } from "../db/provider-window-store";

/**
 * One per LLM provider: the circuit breaker every isolate consults before calling it, and beside it the provider's
 * admission windows (the calls each provider:model took in the last window), shared by every tenant.
 */
export class BreakerObject extends DurableObject<Env> {
  private readonly windows: ProviderWindowStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.windows = new ProviderWindowStore(ctx.storage.sql);
  }

  private async load(): Promise<BreakerState> {
    return (await this.ctx.storage.get<BreakerState>("state")) ?? CLOSED;
  }

  async allow(
    cfg: BreakerSettings,
  ): Promise<{ allowed: boolean; state: BreakerState["state"]; retry_after_ms: number }> {
    const decision = admit(await this.load(), Date.now(), cfg);
    await this.ctx.storage.put("state", decision.next);
    return { allowed: decision.allowed, state: decision.next.state, retry_after_ms: decision.retry_after_ms };
  }

  async record(ok: boolean, cfg: BreakerSettings): Promise<BreakerState["state"]> {
    const next = recordOutcome(await this.load(), ok, Date.now(), cfg);
    await this.ctx.storage.put("state", next);
    return next.state;
  }

  async status(): Promise<BreakerState> {
    return this.load();
  }

  /**
   * Take `tokens` (and one request) of `bucket`'s window now, or say how long to wait. Calls are counted when they
   * are let through, at their estimate, as the provider counts them; one object decides, so no two isolates both
   * take the last of a window.
   */
  takeCall(bucket: string, limit: ProviderLimit, windowMs: number, tokens: number, lane: Lane): Admission {
    const now = Date.now();
    const decision = admitCall(this.windows.window(bucket, now, windowMs), now, windowMs, limit, tokens, lane);
    if (decision.ok) this.windows.record(bucket, now, tokens);
    return decision;
  }

  /** What each of this provider's buckets took in the window that ends now. */
  windowUse(windowMs: number): { bucket: string; requests: number; tokens: number }[] {
    return this.windows.use(Date.now(), windowMs);
  }
}

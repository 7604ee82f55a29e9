import { DurableObject } from "cloudflare:workers";
import { admit, CLOSED, recordOutcome, type BreakerSettings, type BreakerState } from "../engine/breaker";
import type { Lane } from "../engine/fair-share";
import { admitCall, waitingUntil, type Admission, type ProviderLimit } from "../engine/provider-limit";
import { ProviderWindowStore } from "../db/provider-window-store";
import { tenantWeight } from "../db/repo";

const WEIGHT_TTL_MS = 60_000;

/**
 * One per LLM provider: the circuit breaker every isolate consults before calling it, and beside it the provider's
 * admission windows (the calls each provider:model took in the last window), shared by every tenant.
 */
export class BreakerObject extends DurableObject<Env> {
  private readonly windows: ProviderWindowStore;
  private readonly weights = new Map<string, { weight: number; until: number }>();

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
  async takeCall(
    bucket: string,
    limit: ProviderLimit,
    windowMs: number,
    tokens: number,
    lane: Lane,
    tenant = "",
  ): Promise<Admission> {
    const who = { tenant, weight: await this.weightOf(tenant) };
    const now = Date.now();
    const window = this.windows.window(bucket, now, windowMs);
    const decision = admitCall(window, now, windowMs, limit, tokens, lane, who, this.windows.waiting(bucket, now));
    if (decision.ok) this.windows.record(bucket, now, tokens, tenant);
    const until = waitingUntil(decision, now);
    if (until !== null) this.windows.wait(bucket, who, until);
    return decision;
  }

  /**
   * A tenant's weight from its D1 row, kept a minute (a changed weight applies within one); 1 for the engine's own
   * calls, for a tenant D1 does not know, and while D1 cannot be read (a call is never refused for want of it).
   */
  private async weightOf(tenant: string): Promise<number> {
    if (tenant === "") return 1;
    const known = this.weights.get(tenant);
    if (known && known.until > Date.now()) return known.weight;
    const weight = await tenantWeight(this.env.DB, tenant).catch(() => known?.weight ?? 1);
    this.weights.set(tenant, { weight, until: Date.now() + WEIGHT_TTL_MS });
    return weight;
  }

  /** What each of this provider's buckets took in the window that ends now. */
  windowUse(windowMs: number): { bucket: string; requests: number; tokens: number }[] {
    return this.windows.use(Date.now(), windowMs);
  }
}

import { DurableObject } from "cloudflare:workers";
import { admit, CLOSED, recordOutcome, type BreakerSettings, type BreakerState } from "../engine/breaker";
import type { Lane } from "../engine/fair-share";
import {
  admitCall,
  windowSlackMs,
  type Admission,
  type ProviderLimit,
  type WindowCall,
} from "../engine/provider-limit";

/**
 * One per LLM provider: the circuit breaker every isolate consults before calling it, and beside it the provider's
 * admission windows (the calls each provider:model took in the last window), shared by every tenant.
 */
export class BreakerObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS provider_calls (bucket TEXT NOT NULL, at INTEGER NOT NULL,
      tokens INTEGER NOT NULL); CREATE INDEX IF NOT EXISTS provider_calls_at ON provider_calls (bucket, at)`);
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
    const calls = this.window(bucket, now, windowMs);
    const decision = admitCall(calls, now, windowMs, limit, tokens, lane);
    if (decision.ok) this.ctx.storage.sql.exec("INSERT INTO provider_calls VALUES (?, ?, ?)", bucket, now, tokens);
    return decision;
  }

  /** What each of this provider's buckets took in the window that ends now. */
  windowUse(windowMs: number): { bucket: string; requests: number; tokens: number }[] {
    const since = Date.now() - windowMs - windowSlackMs(windowMs);
    return this.ctx.storage.sql
      .exec<{ bucket: string; requests: number; tokens: number }>(
        `SELECT bucket, COUNT(*) AS requests, SUM(tokens) AS tokens FROM provider_calls WHERE at > ?
         GROUP BY bucket ORDER BY bucket`,
        since,
      )
      .toArray();
  }

  private window(bucket: string, now: number, windowMs: number): WindowCall[] {
    const sql = this.ctx.storage.sql;
    sql.exec(
      "DELETE FROM provider_calls WHERE bucket = ? AND at <= ?",
      bucket,
      now - windowMs - windowSlackMs(windowMs),
    );
    return sql
      .exec<{ at: number; tokens: number }>(
        "SELECT at, tokens FROM provider_calls WHERE bucket = ? ORDER BY at",
        bucket,
      )
      .toArray();
  }
}

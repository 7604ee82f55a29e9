import { DurableObject } from "cloudflare:workers";
import { admit, CLOSED, recordOutcome, type BreakerSettings, type BreakerState } from "../engine/breaker";

/** One per LLM provider: the circuit breaker every isolate consults before calling it. */
export class BreakerObject extends DurableObject<Env> {
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
}

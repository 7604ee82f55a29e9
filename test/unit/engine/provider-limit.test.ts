import { describe, expect, it } from "vitest";
import {
  admitCall,
  limitFor,
  parseLimits,
  waitingUntil,
  windowSlackMs,
  type Contender,
  type WindowCall,
} from "../../../src/engine/provider-limit";
import { decideRetry, retryPolicySchema } from "../../../src/engine/retry";

const W = 60_000;
const span = W + windowSlackMs(W);

describe("provider admission windows", () => {
  it("parses PROVIDER_LIMITS and names what is wrong with it, by path", () => {
    expect(parseLimits("")).toEqual({ ok: true, table: {} });
    expect(parseLimits('{"openai:gpt-5-mini": {"rpm": 500, "tpm": 200000}}')).toEqual({
      ok: true,
      table: { "openai:gpt-5-mini": { rpm: 500, tpm: 200000 } },
    });
    expect(parseLimits("{")).toEqual({ ok: false, message: "PROVIDER_LIMITS is not JSON" });
    expect(parseLimits('{"openai:gpt-5-mini": {"tpm": -1}}')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^PROVIDER_LIMITS\.openai:gpt-5-mini\.tpm: /),
    });
    expect(parseLimits('{"openai:x": {}}')).toMatchObject({ ok: false, message: expect.stringMatching(/rpm, tpm/) });
    expect(parseLimits('{"gpt-5": {"rpm": 1}}')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/provider/),
    });
  });

  it("a model's own limit wins over its provider's *, and each model keeps its own window", () => {
    const table = { "openai:*": { tpm: 10 }, "openai:gpt-5": { tpm: 99 } };
    expect(limitFor(table, "openai", "gpt-5")).toEqual({ bucket: "openai:gpt-5", limit: { tpm: 99 } });
    expect(limitFor(table, "openai", "gpt-4o")).toEqual({ bucket: "openai:gpt-4o", limit: { tpm: 10 } });
    expect(limitFor(table, "anthropic", "claude")).toBeNull();
  });

  it("lets calls in until the lane's share of the window is taken, then says when the oldest leave", () => {
    const limit = { tpm: 1000 };
    const calls = [
      { at: 0, tokens: 400, tenant: "" },
      { at: 10_000, tokens: 400, tenant: "" },
    ];
    // default and batch lanes may fill 800 of 1,000: the third waits until the first has left the window
    expect(admitCall(calls, 20_000, W, limit, 100, "batch")).toEqual({ ok: false, wait_ms: span - 20_000 + 1 });
    // interactive runs keep the last fifth
    expect(admitCall(calls, 20_000, W, limit, 100, "interactive")).toEqual({ ok: true });
    // a call that needs both to leave waits for the second
    expect(admitCall(calls, 20_000, W, limit, 700, "default")).toEqual({
      ok: false,
      wait_ms: 10_000 + span - 20_000 + 1,
    });
    // once the window has moved past them, anything up to the share fits
    expect(admitCall(calls, 10_000 + span, W, limit, 800, "batch")).toEqual({ ok: true });
  });

  it("counts requests as well as tokens, and refuses a call no wait could let in", () => {
    expect(admitCall([{ at: 0, tokens: 1, tenant: "" }], 1, W, { rpm: 1 }, 1, "interactive")).toEqual({
      ok: false,
      wait_ms: span,
    });
    expect(admitCall([], 0, W, { tpm: 1000 }, 900, "batch")).toEqual({
      ok: false,
      never: "this call counts 900 tokens, more than the 800 its lane (batch) may take in a window of 60 s",
    });
  });

  /**
   * Tenants asking for one bucket, as the BreakerObject sees them: each asks for a `size`-token call whenever its
   * last refusal's wait is over (a flood: it always has calls waiting); a refusal makes it waiting (waitingUntil).
   * Returns the tokens each was let through in the last `measure` windows of `windows`.
   */
  function simulate(
    tenants: { tenant: string; weight: number; size: number; from?: number }[],
    windows = 12,
    measure = 8,
  ): Record<string, number> {
    const calls: WindowCall[] = [];
    const waiting = new Map<string, { who: Contender; until: number }>();
    const next = new Map(tenants.map((t) => [t.tenant, t.from ?? 0]));
    const got: Record<string, number> = Object.fromEntries(tenants.map((t) => [t.tenant, 0]));
    for (let now = 0; now < windows * W; now += 250) {
      for (const t of tenants) {
        if ((next.get(t.tenant) as number) > now) continue;
        for (const [k, v] of waiting) if (v.until <= now) waiting.delete(k);
        const who = { tenant: t.tenant, weight: t.weight };
        const live = calls.filter((c) => c.at > now - span);
        const d = admitCall(
          live,
          now,
          W,
          { tpm: 10_000 },
          t.size,
          "default",
          who,
          [...waiting.values()].map((v) => v.who),
        );
        if (d.ok) {
          calls.push({ at: now, tokens: t.size, tenant: t.tenant });
          if (now >= (windows - measure) * W) got[t.tenant]! += t.size;
          continue;
        }
        const until = waitingUntil(d, now);
        if (until !== null) waiting.set(t.tenant, { who, until: Math.max(until, waiting.get(t.tenant)?.until ?? 0) });
        next.set(t.tenant, now + ("wait_ms" in d ? d.wait_ms : W));
      }
    }
    return got;
  }

  it("shares a contended window between tenants by weight, and gives it all to one asking alone", () => {
    // Equal weights: a 10,000-item map's tenant and another that also floods get half each (within 10%).
    const even = simulate([
      { tenant: "map", weight: 1, size: 200 },
      { tenant: "other", weight: 1, size: 200 },
    ]);
    expect(even.other! / (even.map! + even.other!)).toBeGreaterThan(0.45);
    expect(even.other! / (even.map! + even.other!)).toBeLessThan(0.55);
    // Weights 3 : 1 from the tenants' rows.
    const weighted = simulate([
      { tenant: "big", weight: 3, size: 200 },
      { tenant: "small", weight: 1, size: 200 },
    ]);
    expect(weighted.big! / (weighted.big! + weighted.small!)).toBeGreaterThan(0.7);
    expect(weighted.big! / (weighted.big! + weighted.small!)).toBeLessThan(0.8);
    // Work-conserving: alone, a tenant takes the lane's whole share (8,000 of 10,000 a window, 8 windows).
    expect(simulate([{ tenant: "alone", weight: 1, size: 200 }]).alone).toBeGreaterThanOrEqual(8 * 8000 * 0.95);
  });

  it("keeps for a waiting tenant its share, and for a tenant that asks little only what it uses", () => {
    const calls: WindowCall[] = [
      { at: 0, tokens: 7000, tenant: "a" },
      { at: 1, tokens: 500, tenant: "b" },
    ];
    const a = { tenant: "a", weight: 1 };
    const b = { tenant: "b", weight: 1 };
    // b gets all it asks for, so nothing is kept for it beyond its 500: a may fill the lane's 8,000.
    expect(admitCall(calls, 2, W, { tpm: 10_000 }, 500, "default", a, [])).toEqual({ ok: true });
    // b waits (it was refused lately): it is kept half of the 8,000, so a, over its half, waits for its own call
    // to leave the window.
    expect(admitCall(calls, 2, W, { tpm: 10_000 }, 500, "default", a, [b])).toEqual({
      ok: false,
      wait_ms: span - 2 + 1,
    });
    // and b, below its half, goes at once.
    expect(admitCall(calls, 2, W, { tpm: 10_000 }, 500, "default", b, [a])).toEqual({ ok: true });
    expect(waitingUntil({ ok: false, wait_ms: 100 }, 1000)).toBe(3100);
    expect(waitingUntil({ ok: true }, 1000)).toBeNull();
  });

  it("a deferred attempt is tried again after its wait whatever the policy's attempts", () => {
    const policy = retryPolicySchema.parse({ max_attempts: 1 });
    const deferred = {
      code: "provider_window_full",
      message: "",
      retryable: true,
      retry_after_ms: 1234,
      deferred: true,
    };
    expect(decideRetry(policy, 1, deferred, () => 0.5)).toEqual({ retry: true, delay_ms: 1234, deferred: true });
    expect(decideRetry(policy, 1, { ...deferred, deferred: false }, () => 0.5)).toEqual({
      retry: false,
      reason: "exhausted",
    });
  });
});

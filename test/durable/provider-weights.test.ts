import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { breakerStub } from "../../src/durable/client";
import { createTenant } from "../support/api";

// Tenants share a provider window by the weight in their D1 row, in the provider's BreakerObject (the one every
// isolate asks). A 1 s window keeps the test short; the rule is the same for a minute's.
const WINDOW = 1000;
const limit = { tpm: 10_000 };

async function fill(ask: () => Promise<{ ok: boolean }>): Promise<number> {
  let n = 0;
  while ((await ask()).ok) n++;
  return n;
}

describe("provider windows shared by tenant weight", () => {
  it("a tenant of weight 3 beside one of weight 1, both waiting, gets three quarters of the window", async () => {
    const big = await createTenant();
    const small = await createTenant();
    await env.DB.prepare("UPDATE tenants SET weight = 3 WHERE id = ?").bind(big.tenantId).run();
    const breaker = breakerStub(env, `weights-${crypto.randomUUID()}`);
    const bucket = "p:model";
    const ask = (tenant: string) => () => breaker.takeCall(bucket, limit, WINDOW, 1000, "default", tenant);
    // Alone, the big tenant fills the lane's whole share (8,000 of 10,000), then is refused and waits.
    expect(await fill(ask(big.tenantId))).toBe(8);
    // The small one, refused too, now waits: the next window is shared 3 : 1.
    expect((await ask(small.tenantId)()).ok).toBe(false);
    await new Promise((r) => setTimeout(r, WINDOW + 300));
    expect(await fill(ask(big.tenantId))).toBe(6);
    expect(await fill(ask(small.tenantId))).toBe(2);
  });

  it("equal weights split a contended window in half, and an unknown tenant counts as weight 1", async () => {
    const a = await createTenant();
    const breaker = breakerStub(env, `weights-${crypto.randomUUID()}`);
    const ask = (tenant: string) => () => breaker.takeCall("p:model", limit, WINDOW, 1000, "default", tenant);
    expect(await fill(ask(a.tenantId))).toBe(8);
    expect((await ask("ten_unknown")()).ok).toBe(false);
    await new Promise((r) => setTimeout(r, WINDOW + 300));
    expect(await fill(ask(a.tenantId))).toBe(4);
    expect(await fill(ask("ten_unknown"))).toBe(4);
  });
});

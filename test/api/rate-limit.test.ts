import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant } from "../support/api";

describe("rate limits", () => {
  it("limit each API key on its own, with RateLimit headers and a 429 problem carrying Retry-After", async () => {
    const limited = await createTenant();
    const other = await createTenant();
    await env.DB.prepare("update api_keys set rate_limit_per_minute = 5 where id = ?").bind(limited.keyId).run();
    const api = client(limited.token);
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof api.get>> | null = null;
    for (let i = 0; i < 7; i++) {
      last = await api.get("/v1/workflows");
      statuses.push(last.status);
      if (i === 0) expect(last.headers.get("ratelimit-limit")).toBe("5");
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(last!.headers.get("content-type")).toBe("application/problem+json");
    expect(last!.body).toMatchObject({ status: 429, code: "rate_limited" });
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(last!.headers.get("ratelimit-remaining")).toBe("0");
    // Another key is unaffected; so is the unauthenticated health check.
    expect((await client(other.token).get("/v1/workflows")).status).toBe(200);
    expect((await client(null).get("/health")).status).toBe(200);
  });
});

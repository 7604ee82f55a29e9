// The start route authenticates, reads the workflow and claims the Idempotency-Key in one D1 batch, then makes one
// TenantObject call: these are the guarantees that must hold anyway (auth first, limits, nothing half-created).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { revokeApiKey } from "../../src/db/repo";
import { client, createKey, createTenant, waitFor } from "../support/api";

const wf = {
  name: "typed",
  input_schema: { type: "object", required: ["n"], properties: { n: { type: "number" } } },
  nodes: [{ id: "a", kind: "transform", config: { expression: "input.n + 1" } }],
};

async function claims(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from idempotency_keys where tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

async function executionsOf(tenantId: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from executions where tenant_id = ?")
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

describe("the start path", () => {
  it("answers a bad body only to a caller with a valid key", async () => {
    const { token } = await createTenant();
    const id = (await client(token).post("/v1/workflows", wf)).body.id;
    const path = `/v1/workflows/${id}/executions`;
    expect((await client(null).post(path, "{not json")).body.code).toBe("missing_credentials");
    const forged = `ef_${token.slice(3, 15)}_${"A".repeat(43)}`;
    const anonymous = await client(forged).post(path, "{not json");
    expect([anonymous.status, anonymous.body.code]).toEqual([401, "invalid_credentials"]);
    const own = await client(token).post(path, "{not json");
    expect([own.status, own.body.code]).toEqual([400, "invalid_json"]);
  });

  it("writes no claim for a key that is not valid for writing, however the request looks", async () => {
    const t = await createTenant();
    const id = (await client(t.token).post("/v1/workflows", wf)).body.id;
    const path = `/v1/workflows/${id}/executions`;
    const reader = await createKey(t.tenantId, "reader", "read");
    const forged = `ef_${t.token.slice(3, 15)}_${"B".repeat(43)}`;
    const revoked = await createKey(t.tenantId, "gone");
    await revokeApiKey(openDb(env.DB).db, revoked.keyId, Date.now());
    const tries: [string, number, string][] = [
      [reader.token, 403, "insufficient_scope"],
      [forged, 401, "invalid_credentials"],
      [revoked.token, 401, "revoked_credentials"],
    ];
    for (const [token, status, code] of tries) {
      const res = await client(token).post(path, { input: { n: 1 } }, { "idempotency-key": "k-1" });
      expect([res.status, res.body.code]).toEqual([status, code]);
    }
    expect(await claims(t.tenantId)).toBe(0);
    // The key is still free for the tenant's real request, whatever body it brings.
    const real = await client(t.token).post(path, { input: { n: 2 } }, { "idempotency-key": "k-1" });
    expect(real.status).toBe(201);
  });

  it("gives the Idempotency-Key back when the start is refused after the batch claimed it", async () => {
    const t = await createTenant();
    const api = client(t.token);
    const id = (await api.post("/v1/workflows", wf)).body.id;
    const path = `/v1/workflows/${id}/executions`;
    // Invalid input: 422, the claim is gone, so the corrected request with the same key starts.
    const invalid = await api.post(path, { input: { n: "one" } }, { "idempotency-key": "k-2" });
    expect([invalid.status, invalid.body.code]).toEqual([422, "invalid_input"]);
    expect(await claims(t.tenantId)).toBe(0);
    const fixed = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "k-2" });
    expect(fixed.status).toBe(201);
    expect((await waitFor(api, fixed.body.id)).output).toEqual({ a: 2 });
    // No such workflow or version: nothing is claimed.
    const missing = await api.post(`${path}`, { input: { n: 1 }, version: 9 }, { "idempotency-key": "k-3" });
    expect([missing.status, missing.body.code]).toEqual([404, "version_not_found"]);
    expect(await claims(t.tenantId)).toBe(1);
  });

  it("refuses a start over the rate limit without creating anything or keeping its claim", async () => {
    const t = await createTenant();
    const api = client(t.token);
    const id = (await api.post("/v1/workflows", wf)).body.id;
    const path = `/v1/workflows/${id}/executions`;
    await env.DB.prepare("update api_keys set rate_limit_per_minute = 2 where id = ?").bind(t.keyId).run();
    const started = [await api.post(path, { input: { n: 1 } }), await api.post(path, { input: { n: 2 } })];
    expect(
      started.map((r) => [r.status, r.headers.get("ratelimit-limit"), r.headers.get("ratelimit-remaining")]),
    ).toEqual([
      [201, "2", "1"],
      [201, "2", "0"],
    ]);
    const limited = await api.post(path, { input: { n: 3 } }, { "idempotency-key": "k-4" });
    expect([limited.status, limited.body.code]).toEqual([429, "rate_limited"]);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await claims(t.tenantId)).toBe(0);
    // The two that were admitted reach D1; the refused one never exists.
    for (let i = 0; i < 100 && (await executionsOf(t.tenantId)) < 2; i++) await scheduler.wait(50);
    await scheduler.wait(300);
    expect(await executionsOf(t.tenantId)).toBe(2);
    // A refusal before admission (unknown workflow) still spends a token.
    const unknown = await api.post("/v1/workflows/wf_01M84GY93SW03JPZRQEMCTART0/executions", { input: {} });
    expect([unknown.status, unknown.body.code]).toEqual([429, "rate_limited"]);
  });
});

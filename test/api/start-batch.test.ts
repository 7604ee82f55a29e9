// POST /v1/workflows/:id/executions/batch: up to 1,000 starts in one request, answered per item, through the same
// pipeline (decideStart, one D1 batch, one TenantObject call) as a single start.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor } from "../support/api";

const wf = {
  name: "batched",
  input_schema: { type: "object", required: ["n"], properties: { n: { type: "number" } } },
  nodes: [{ id: "a", kind: "transform", config: { expression: "input.n * 2" } }],
};

async function count(table: string, tenantId: string): Promise<number> {
  const row = await env.DB.prepare(`select count(*) as n from ${table} where tenant_id = ?`)
    .bind(tenantId)
    .first<{ n: number }>();
  return row?.n ?? -1;
}

async function setup(definition: unknown = wf) {
  const t = await createTenant();
  const api = client(t.token);
  const id = (await api.post("/v1/workflows", definition)).body.id as string;
  return { ...t, api, id, path: `/v1/workflows/${id}/executions/batch` };
}

describe("batch start", () => {
  it("starts every item, each with its own input, and answers per item in order", async () => {
    const { api, path } = await setup();
    const items = Array.from({ length: 25 }, (_, n) => ({ input: { n }, tags: ["batch"] }));
    const res = await api.post(path, { items });
    expect(res.status).toBe(200);
    expect([res.body.created, res.body.replayed, res.body.refused]).toEqual([25, 0, 0]);
    expect(res.body.items.map((i: any) => i.index)).toEqual(items.map((_, n) => n));
    expect(new Set(res.body.items.map((i: any) => i.id)).size).toBe(25);
    const outputs = await Promise.all(res.body.items.map((i: any) => waitFor(api, i.id)));
    expect(outputs.map((v) => v.output)).toEqual(items.map((_, n) => ({ a: n * 2 })));
    expect(outputs.every((v) => v.tags.includes("batch"))).toBe(true);
  });

  it("answers a malformed or invalid item on its own and creates the others", async () => {
    const { api, path, tenantId } = await setup();
    const res = await api.post(path, {
      items: [{ input: { n: 1 } }, { input: { n: "two" } }, { input: { n: 3 }, colour: "red" }, { input: { n: 4 } }],
    });
    expect(res.status).toBe(200);
    const [one, two, three, four] = res.body.items;
    expect([one.status, four.status]).toEqual(["created", "created"]);
    expect(two).toMatchObject({ index: 1, status: "refused", error: { code: "invalid_input", retryable: false } });
    expect(two.error.errors.length).toBeGreaterThan(0);
    expect(three).toMatchObject({ index: 2, status: "refused", error: { code: "validation_failed" } });
    expect(three.error.errors).toEqual([{ path: "colour", message: "Unknown field" }]);
    expect(await count("idempotency_keys", tenantId)).toBe(0);
    await waitFor(api, one.id);
    await waitFor(api, four.id);
  });

  it("replays items by Idempotency-Key, across batches and against a single start", async () => {
    const { api, path, id, tenantId } = await setup();
    const single = await api.post(`/v1/workflows/${id}/executions`, { input: { n: 7 } }, { "idempotency-key": "k-7" });
    expect(single.status).toBe(201);
    const items = [
      { input: { n: 7 }, idempotency_key: "k-7" },
      { input: { n: 8 }, idempotency_key: "k-8" },
      { input: { n: 8 }, idempotency_key: "k-8" },
      { input: { n: 9 }, idempotency_key: "k-7" },
    ];
    const first = await api.post(path, { items });
    const [seven, eight, eightAgain, reused] = first.body.items;
    expect(seven).toMatchObject({ status: "replayed", id: single.body.id });
    expect(eight.status).toBe("created");
    expect(eightAgain).toMatchObject({ status: "replayed", id: eight.id });
    expect(reused).toMatchObject({ status: "refused", id: single.body.id, error: { code: "idempotency_key_reused" } });
    const again = await api.post(path, { items: items.slice(0, 2) });
    expect(again.body.items.map((i: any) => [i.status, i.id])).toEqual([
      ["replayed", single.body.id],
      ["replayed", eight.id],
    ]);
    expect(await count("executions", tenantId)).toBeLessThanOrEqual(2);
    expect((await waitFor(api, eight.id)).output).toEqual({ a: 16 });
    const claims = await env.DB.prepare(
      "select key, completed_at from idempotency_keys where tenant_id = ? order by key",
    )
      .bind(tenantId)
      .all<{ key: string; completed_at: number | null }>();
    expect(claims.results.map((r) => r.key)).toEqual(["k-7", "k-8"]);
  });

  it("refuses a batch over 1,000 items with 413 before creating anything", async () => {
    const { api, path, tenantId } = await setup();
    const items = Array.from({ length: 1001 }, (_, n) => ({ input: { n }, idempotency_key: `k-${n}` }));
    const res = await api.post(path, { items });
    expect([res.status, res.body.code]).toEqual([413, "batch_too_large"]);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(await count("idempotency_keys", tenantId)).toBe(0);
    const listed = await api.get(`/v1/executions?workflow_id=${path.split("/")[3]}`);
    expect(listed.body.data).toEqual([]);
  });

  it("answers an unknown workflow, an empty batch and a bad body with nothing created", async () => {
    const { api, path, tenantId } = await setup();
    const missing = await api.post("/v1/workflows/wf_00000000000000000000000000/executions/batch", {
      items: [{ input: { n: 1 }, idempotency_key: "a" }],
    });
    expect([missing.status, missing.body.code]).toEqual([404, "workflow_not_found"]);
    const noVersion = await api.post(path, { version: 5, items: [{ input: { n: 1 } }] });
    expect([noVersion.status, noVersion.body.code]).toEqual([404, "version_not_found"]);
    const empty = await api.post(path, { items: [] });
    expect([empty.status, empty.body.code]).toEqual([400, "validation_failed"]);
    expect(empty.body.errors[0].path).toBe("items");
    // The batch's lane is the whole request's: 422 with its path; an item's own lane refuses that item alone.
    const lane = await api.post(path, { lane: "turbo", items: [{ input: { n: 1 }, idempotency_key: "l" }] });
    expect([lane.status, lane.body.code, lane.body.errors]).toEqual([
      422,
      "unknown_lane",
      [{ path: "lane", message: "one of interactive, default, batch" }],
    ]);
    const itemLane = await api.post(path, { items: [{ input: { n: 1 }, lane: "turbo" }] });
    expect([itemLane.status, itemLane.body.items[0].error.code]).toEqual([200, "unknown_lane"]);
    const unauthenticated = await client(null).post(path, { items: [{ input: { n: 1 } }] });
    expect(unauthenticated.status).toBe(401);
    expect(await count("idempotency_keys", tenantId)).toBe(0);
  });

  it("queues items past the tenant's concurrency key in item order, in one admission", async () => {
    const { api, path } = await setup({
      name: "keyed",
      concurrency_key: "{{ input.who }}",
      nodes: [{ id: "w", kind: "sleep", config: { duration_ms: 300 } }],
    });
    const res = await api.post(path, { items: ["x", "x", "y", "x"].map((who) => ({ input: { who } })) });
    expect(res.body.items.map((i: any) => i.execution_status)).toEqual(["running", "queued", "running", "queued"]);
    const views = await Promise.all(res.body.items.map((i: any) => waitFor(api, i.id)));
    expect(views.every((v) => v.status === "succeeded")).toBe(true);
    const x = [0, 1, 3].map((n) => views[n]);
    // The key's holders ran one after another, in item order.
    expect(Date.parse(x[1].started_at)).toBeGreaterThanOrEqual(Date.parse(x[0].finished_at));
    expect(Date.parse(x[2].started_at)).toBeGreaterThanOrEqual(Date.parse(x[1].finished_at));
  });

  it("is refused whole by the rate limit, keeping no claim", async () => {
    const t = await createTenant();
    const api = client(t.token);
    const id = (await api.post("/v1/workflows", wf)).body.id;
    await env.DB.prepare("update api_keys set rate_limit_per_minute = 1 where tenant_id = ?").bind(t.tenantId).run();
    const path = `/v1/workflows/${id}/executions/batch`;
    const first = await api.post(path, { items: [{ input: { n: 1 }, idempotency_key: "r-1" }] });
    expect(first.status).toBe(200);
    const second = await api.post(path, { items: [{ input: { n: 2 }, idempotency_key: "r-2" }] });
    expect([second.status, second.body.code]).toEqual([429, "rate_limited"]);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);
    const keys = await env.DB.prepare("select key from idempotency_keys where tenant_id = ?").bind(t.tenantId).all();
    expect(keys.results.map((r: any) => r.key)).toEqual(["r-1"]);
    expect(await count("executions", t.tenantId)).toBeLessThanOrEqual(1);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { canonicalHash } from "../../src/lib/hash";
import { newId } from "../../src/lib/ids";
import { client, createTenant, run, waitFor } from "../support/api";

const chain = {
  name: "chain",
  nodes: [
    { id: "a", kind: "transform", config: { expression: "input.n + 1" } },
    { id: "b", kind: "transform", needs: ["a"], config: { expression: "nodes.a.output * 10" } },
  ],
};

describe("starting executions", () => {
  it("runs a chain and returns 201 with a location", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", chain);
    const res = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { n: 4 } });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/v1/executions/${res.body.id}`);
    expect(res.body).toMatchObject({ status: "running", workflow_id: wf.body.id, version: 1 });
    // Server-Timing says where the start's time went (what `npm run bench -- --only start-path` tabulates).
    const steps = (h: string | null) => (h ?? "").split(",").map((m) => m.split(";")[0]?.trim());
    // One D1 round trip (key, workflow and claim in one batch) and one TenantObject call (admit) before the answer.
    expect(steps(res.headers.get("server-timing"))).toEqual(["d1", "admit", "object", "total"]);
    expect(res.headers.get("x-d1-round-trips")).toBe("1");
    const keyed = await api.post(
      `/v1/workflows/${wf.body.id}/executions`,
      { input: { n: 4 } },
      { "idempotency-key": "st-1" },
    );
    expect(steps(keyed.headers.get("server-timing"))).toEqual(["d1", "admit", "object", "total"]);
    expect(keyed.headers.get("x-d1-round-trips")).toBe("1");
    expect(res.headers.get("server-timing")).toMatch(/^d1;dur=\d+(\.\d+)?,admit;dur=/);
    const done = await waitFor(api, res.body.id);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ b: 50 });
    expect(done.nodes.map((n: any) => [n.node_id, n.status, n.attempts])).toEqual([
      ["a", "succeeded", 1],
      ["b", "succeeded", 1],
    ]);
  });

  it("starts and waits in one request with Prefer: wait, and answers as a plain start when the wait runs out", async () => {
    const api = client((await createTenant()).token);
    const wf = (await api.post("/v1/workflows", chain)).body.id;
    const done = await api.post(`/v1/workflows/${wf}/executions`, { input: { n: 1 } }, { prefer: "wait=10" });
    expect(done.status).toBe(201);
    expect(done.headers.get("preference-applied")).toBe("wait=10");
    expect(done.body).toMatchObject({ status: "succeeded", output: { b: 20 }, error: null });
    expect(done.body.nodes.map((x: any) => x.status)).toEqual(["succeeded", "succeeded"]);
    // A replay of the same Idempotency-Key waits the same way and answers 200.
    const key = { "idempotency-key": `wait-${Date.now()}`, prefer: "wait=5" };
    const first = await api.post(`/v1/workflows/${wf}/executions`, { input: { n: 2 } }, key);
    const again = await api.post(`/v1/workflows/${wf}/executions`, { input: { n: 2 } }, key);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body).toMatchObject({ id: first.body.id, status: "succeeded", output: { b: 30 } });

    const slow = (
      await api.post("/v1/workflows", {
        name: "slow",
        nodes: [{ id: "nap", kind: "sleep", config: { duration_ms: 2500 } }],
      })
    ).body.id;
    const started = await api.post(`/v1/workflows/${slow}/executions`, {}, { prefer: "wait=1" });
    expect(started.status).toBe(201);
    expect(started.headers.get("preference-applied")).toBe("wait=1");
    expect(started.body.status).toBe("running");
    // Asked for more than the cap, the wait is 60 s and says so; the run settles well within it.
    const settled = await api.get(`/v1/executions/${started.body.id}`, { prefer: "wait=600" });
    expect(settled.headers.get("preference-applied")).toBe("wait=60");
    expect(settled.body).toMatchObject({ status: "succeeded" });
    // A preference that is not one is ignored, as RFC 7240 allows: the plain answer.
    const plain = await api.post(`/v1/workflows/${wf}/executions`, { input: { n: 1 } }, { prefer: "wait=soon" });
    expect(plain.headers.get("preference-applied")).toBeNull();
    expect(Object.keys(plain.body).sort()).toEqual(["id", "status", "version", "workflow_id"]);
  });

  it("gives every run its own id and its own stored result, even when started together", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", chain);
    const runs = await Promise.all(
      [1, 2, 3, 4, 5].map((n) => api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { n } })),
    );
    expect(new Set(runs.map((r) => r.body.id)).size).toBe(5);
    const outputs = await Promise.all(runs.map(async (r) => (await waitFor(api, r.body.id)).output.b));
    expect(outputs).toEqual([20, 30, 40, 50, 60]);
  });

  it("validates input against the workflow's input_schema", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      ...chain,
      input_schema: { type: "object", required: ["n"], properties: { n: { type: "integer", minimum: 0 } } },
    });
    const bad = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { n: "four" } });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe("invalid_input");
    expect(bad.body.errors[0].path).toBe("input.n");
    const missing = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: {} });
    expect(missing.status).toBe(422);
    const unknownField = await api.post(`/v1/workflows/${wf.body.id}/executions`, { inputs: {} });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.code).toBe("validation_failed");
    expect((await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { n: 1 } })).status).toBe(201);
  });

  it("refuses a body over the 1 MiB limit with 413 and a non-JSON body with 415", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", chain);
    const big = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { blob: "x".repeat(1024 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe("body_too_large");
    const form = await api.raw("POST", `/v1/workflows/${wf.body.id}/executions`, "input=1", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(form.status).toBe(415);
  });

  it("answers 404 for unknown workflows and versions", async () => {
    const api = client((await createTenant()).token);
    expect((await api.post("/v1/workflows/wf_01M84GY93SW03JPZRQEMCTART0/executions", {})).body.code).toBe(
      "workflow_not_found",
    );
    expect((await api.post("/v1/workflows/nonsense/executions", {})).status).toBe(404);
    const wf = await api.post("/v1/workflows", chain);
    expect((await api.post(`/v1/workflows/${wf.body.id}/executions`, { version: 2 })).body.code).toBe(
      "version_not_found",
    );
  });
});

describe("Idempotency-Key", () => {
  it("replays the original execution for the same key and body, and refuses a different body", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", chain);
    const path = `/v1/workflows/${wf.body.id}/executions`;
    const first = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "order-1" });
    expect(first.status).toBe(201);
    const again = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "order-1" });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await api.post(path, { input: { n: 2 } }, { "idempotency-key": "order-1" });
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: "idempotency_key_reused", execution_id: first.body.id });
    const fresh = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "order-2" });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(first.body.id);
    expect((await api.post(path, {}, { "idempotency-key": "bad key with spaces" })).body.code).toBe(
      "invalid_idempotency_key",
    );
  });

  it("scopes keys per tenant", async () => {
    const a = client((await createTenant()).token);
    const b = client((await createTenant()).token);
    const wfA = await a.post("/v1/workflows", chain);
    const wfB = await b.post("/v1/workflows", chain);
    const ra = await a.post(`/v1/workflows/${wfA.body.id}/executions`, {}, { "idempotency-key": "shared" });
    const rb = await b.post(`/v1/workflows/${wfB.body.id}/executions`, {}, { "idempotency-key": "shared" });
    expect(ra.status).toBe(201);
    expect(rb.status).toBe(201);
    expect(ra.body.id).not.toBe(rb.body.id);
  });

  it("answers 409 while the key's first request is in flight, and takes over a claim abandoned for 30 s", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = (await api.post("/v1/workflows", chain)).body.id;
    const path = `/v1/workflows/${wf}/executions`;
    const hash = await canonicalHash({ workflow_id: wf, request: { input: { n: 1 } } });
    // A request that claimed the key and has not started its execution yet (or died doing so).
    const claim = (key: string, id: string, createdAt: number) =>
      env.DB.prepare(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, execution_id, created_at) VALUES (?, ?, ?, ?, ?)",
      )
        .bind(tenantId, key, hash, id, createdAt)
        .run();
    const busyId = newId("ex");
    await claim("busy", busyId, Date.now());
    const busy = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "busy" });
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ code: "idempotency_key_in_flight", execution_id: busyId });
    expect(busy.headers.get("retry-after")).toBe("1");
    // Same key, another body: still 422, in flight or not.
    expect((await api.post(path, { input: { n: 2 } }, { "idempotency-key": "busy" })).status).toBe(422);

    const abandonedId = newId("ex");
    await claim("abandoned", abandonedId, Date.now() - 31_000);
    const taken = await api.post(path, { input: { n: 1 } }, { "idempotency-key": "abandoned" });
    expect(taken.status).toBe(200);
    expect(taken.body.id).toBe(abandonedId);
    expect((await waitFor(api, taken.body.id)).output).toEqual({ b: 20 });
    expect((await api.post(path, { input: { n: 1 } }, { "idempotency-key": "abandoned" })).status).toBe(200);
  });

  it("creates exactly one execution for 100 concurrent requests with one key", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", chain);
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { n: 7 } }, { "idempotency-key": "burst" }),
      ),
    );
    // One request creates it; the others replay it (200) or, while it is still being started, get 409 + Retry-After.
    expect(responses.filter((r) => r.status === 201)).toHaveLength(1);
    expect(responses.every((r) => r.status === 201 || r.status === 200 || r.status === 409)).toBe(true);
    for (const r of responses.filter((x) => x.status === 409)) {
      expect(r.body.code).toBe("idempotency_key_in_flight");
      expect(r.headers.get("retry-after")).toBe("1");
    }
    const ids = new Set(responses.map((r) => r.body.id ?? r.body.execution_id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    const retried = await api.post(
      `/v1/workflows/${wf.body.id}/executions`,
      { input: { n: 7 } },
      { "idempotency-key": "burst" },
    );
    expect(retried.status).toBe(200);
    expect(retried.body.id).toBe(id);
    expect((await waitFor(api, id as string)).output).toEqual({ b: 80 });
    const listed = await api.get(`/v1/executions?workflow_id=${wf.body.id}`);
    expect(listed.body.data.map((e: any) => e.id)).toEqual([id]);
  });
});

describe("execution history", () => {
  it("lists newest first with filters and cursor pagination in one query", async () => {
    const api = client((await createTenant()).token);
    const ok = await api.post("/v1/workflows", chain);
    const bad = await api.post("/v1/workflows", {
      name: "bad",
      nodes: [{ id: "x", kind: "transform", config: { expression: "$error('no')" } }],
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await run(api, chain, { n: i })).executionId);
    const okRuns = [await api.post(`/v1/workflows/${ok.body.id}/executions`, { input: { n: 1 } })];
    const badRun = await api.post(`/v1/workflows/${bad.body.id}/executions`, {});
    for (const id of [...ids, okRuns[0]!.body.id, badRun.body.id]) await waitFor(api, id);

    const all = await api.get("/v1/executions?limit=100");
    expect(all.body.data).toHaveLength(7);
    const created = all.body.data.map((e: any) => e.created_at);
    expect([...created].sort().reverse()).toEqual(created);
    expect(all.headers.get("x-d1-queries")).toBe("2");

    const failed = await api.get("/v1/executions?status=failed");
    expect(failed.body.data.map((e: any) => [e.id, e.error.code])).toEqual([[badRun.body.id, "node_failed"]]);
    const byWorkflow = await api.get(`/v1/executions?workflow_id=${ok.body.id}`);
    expect(byWorkflow.body.data.map((e: any) => e.id)).toEqual([okRuns[0]!.body.id]);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api.get(`/v1/executions?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.body.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.data.map((e: any) => e.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.body.data.map((e: any) => e.id));
    expect((await api.get("/v1/executions?status=exploded")).status).toBe(400);
    expect((await api.get("/v1/executions?limit=1000")).status).toBe(400);
  });

  it("hides another tenant's executions everywhere", async () => {
    const owner = client((await createTenant()).token);
    const other = client((await createTenant()).token);
    const { executionId } = await run(owner, {
      name: "nap",
      nodes: [{ id: "z", kind: "wait_for_event", config: { event: "go" } }],
    });
    for (const res of [
      await other.get(`/v1/executions/${executionId}`),
      await other.get(`/v1/executions/${executionId}/events`),
      await other.post(`/v1/executions/${executionId}/cancel`),
      await other.post(`/v1/executions/${executionId}/events`, { name: "go" }),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("execution_not_found");
    }
    expect((await other.get("/v1/executions")).body.data).toEqual([]);
    expect((await owner.get(`/v1/executions/${executionId}`)).body.status).toBe("running");
    expect((await owner.post(`/v1/executions/${executionId}/cancel`)).status).toBe(200);
  });

  it("answers 404 for unknown and malformed execution ids", async () => {
    const api = client((await createTenant()).token);
    expect((await api.get("/v1/executions/ex_01M84GY93SW03JPZRQEMCTART0")).body.code).toBe("execution_not_found");
    expect((await api.get("/v1/executions/..%2F..%2Fetc")).status).toBe(404);
    expect((await api.post("/v1/executions/not-an-id/cancel")).status).toBe(404);
  });
});

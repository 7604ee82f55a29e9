import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { explainListExecutions } from "../../src/db/history-repo";
import { client, createTenant, waitFor, waitForNode } from "../support/api";

const waiting = { name: "w", nodes: [{ id: "w", kind: "wait_for_event", config: { event: "go" } }] };

describe("execution search", () => {
  it("filters by workflow version and time range, each through an index", async () => {
    const { token, tenantId } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "s",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const v1 = [
      (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id,
      (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id,
    ];
    await api.put(`/v1/workflows/${wf}`, {
      name: "s",
      nodes: [{ id: "a", kind: "transform", config: { expression: "2" } }],
    });
    const middle = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const v2 = (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id;
    for (const id of [...v1, v2]) await waitFor(api, id);
    const ids = async (q: string) => (await api.get(`/v1/executions?${q}`)).body.data.map((e: any) => e.id);
    expect(await ids(`workflow_id=${wf}&version=1`)).toEqual([...v1].reverse());
    expect(await ids(`workflow_id=${wf}&version=2`)).toEqual([v2]);
    expect(await ids(`created_after=${encodeURIComponent(middle)}`)).toEqual([v2]);
    expect(await ids(`created_before=${encodeURIComponent(middle)}`)).toEqual([...v1].reverse());
    expect((await api.get("/v1/executions?created_after=yesterday")).status).toBe(400);

    const db = openDb(env.DB).db;
    const filters = [
      {},
      { workflow_id: wf },
      { workflow_id: wf, version: 1 },
      { status: "succeeded" },
      { created_after: Date.now() - 60_000 },
      { workflow_id: wf, created_before: Date.now() },
    ];
    for (const f of filters) {
      const plan = await explainListExecutions(db, tenantId, f);
      expect(
        plan.filter((line) => /^SCAN executions\b(?!.*USING)/.test(line)),
        JSON.stringify({ f, plan }),
      ).toEqual([]);
    }
  });

  it("finds executions by tag and by metadata key=value, through indexes", async () => {
    const { token, tenantId } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "t",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const start = async (body: unknown) => (await api.post(`/v1/workflows/${wf}/executions`, body)).body.id as string;
    const eu = await start({ tags: ["nightly", "eu"], metadata: { customer: "acme", region: "eu-west" } });
    const us = await start({ tags: ["nightly"], metadata: { customer: "globex" } });
    const plain = await start({});
    for (const id of [eu, us, plain]) await waitFor(api, id);
    const ids = async (q: string) => (await api.get(`/v1/executions?${q}`)).body.data.map((e: any) => e.id);
    expect(await ids("tag=nightly")).toEqual([us, eu]);
    expect(await ids("tag=eu")).toEqual([eu]);
    expect(await ids("metadata=customer:acme")).toEqual([eu]);
    expect(await ids("tag=nightly&metadata=customer:globex")).toEqual([us]);
    expect(await ids("metadata=customer:nobody")).toEqual([]);
    // Status counts take the same filters (the dashboard's summary above the list); every status is listed.
    const counts = await api.get("/v1/executions/counts?tag=nightly");
    expect(counts.status).toBe(200);
    expect(counts.body.total).toBe(2);
    expect(counts.body.counts).toMatchObject({ succeeded: 2, failed: 0, running: 0, queued: 0 });
    expect((await api.get("/v1/executions/counts?status=failed")).body.counts.succeeded).toBe(3);
    expect((await api.get("/v1/executions/counts?created_after=soon")).status).toBe(400);
    expect((await api.get(`/v1/executions/${eu}`)).body).toMatchObject({
      tags: ["nightly", "eu"],
      metadata: { customer: "acme", region: "eu-west" },
    });
    expect((await api.post(`/v1/workflows/${wf}/executions`, { tags: ["has space"] })).status).toBe(400);
    // Another tenant's tags are not searchable from here.
    expect((await client((await createTenant()).token).get("/v1/executions?tag=nightly")).body.data).toEqual([]);
    const db = openDb(env.DB).db;
    for (const f of [{ tag: "nightly" }, { metadata: ["customer", "acme"] as [string, string] }]) {
      const plan = await explainListExecutions(db, tenantId, f);
      expect(
        plan.filter((line) => /^SCAN execution/.test(line) && !/USING/.test(line)),
        JSON.stringify({ f, plan }),
      ).toEqual([]);
    }
  });

  it("cancels and redrives in bulk by filter, touching only what matches", async () => {
    const api = client((await createTenant()).token);
    const a = (await api.post("/v1/workflows", waiting)).body.id;
    const b = (await api.post("/v1/workflows", waiting)).body.id;
    const ofA = [];
    for (let i = 0; i < 3; i++) ofA.push((await api.post(`/v1/workflows/${a}/executions`, {})).body.id);
    const ofB = (await api.post(`/v1/workflows/${b}/executions`, {})).body.id;
    for (const id of [...ofA, ofB]) await waitForNode(api, id, "w", "waiting");
    // The list filter reads D1, which the DOs project to within moments.
    for (const id of ofA) await waitFor(api, id, ["running"]);
    await new Promise((r) => setTimeout(r, 200));

    const cancelled = await api.post("/v1/executions/bulk/cancel", { filter: { workflow_id: a, status: "running" } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.matched).toBe(3);
    expect([...cancelled.body.changed].sort()).toEqual([...ofA].sort());
    for (const id of ofA) expect((await waitFor(api, id)).status).toBe("cancelled");
    expect((await api.get(`/v1/executions/${ofB}`)).body.status).toBe("running");

    const redriven = await api.post("/v1/executions/bulk/redrive", {
      filter: { workflow_id: a, status: "cancelled" },
      limit: 2,
    });
    expect(redriven.body.matched).toBe(2);
    expect(redriven.body.changed).toHaveLength(2);
    for (const id of redriven.body.changed) expect((await waitFor(api, id, ["running"])).status).toBe("running");
    expect((await api.post("/v1/executions/bulk/archive", { filter: {} })).status).toBe(404);
  });
});

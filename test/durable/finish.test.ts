import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor } from "../support/api";

// An ending run hands its TenantObject its release and its final projection in one call (TenantObject.finish),
// and the TenantObject writes the projections of runs ending together to D1 as one batch.
describe("the end of a run", () => {
  it("releases the slot and key while D1 refuses the final projection, and lands the projection once D1 is back", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const tenant = env.TENANT.get(env.TENANT.idFromName(tenantId));
    const wf = (
      await api.post("/v1/workflows", {
        name: "solo",
        concurrency_key: "'solo'",
        nodes: [{ id: "a", kind: "transform", config: { expression: "'done'" } }],
      })
    ).body.id as string;
    await env.DB.prepare("alter table node_runs rename to node_runs_finish_away").run();
    const ids: string[] = [];
    try {
      // One at a time by their key: the second can only run once the first has let go of it.
      for (let i = 0; i < 2; i++) {
        const res = await api.post(`/v1/workflows/${wf}/executions`, { input: {} });
        expect(res.status).toBe(201);
        ids.push(res.body.id);
        expect((await waitFor(api, res.body.id, ["succeeded"], 10_000, { d1: false })).status).toBe("succeeded");
      }
      // The last one lets go just after its end, its projection still refused.
      for (let i = 0; i < 200 && (await tenant.queued("__running__")) > 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(await tenant.queued("'solo'")).toBe(0);
      expect(await tenant.queued("__running__")).toBe(0);
      const inD1 = await env.DB.prepare("select id, status, seq from executions where workflow_id = ?").bind(wf).all();
      expect(inD1.results).toEqual([]);
    } finally {
      await env.DB.prepare("alter table node_runs_finish_away rename to node_runs").run();
    }
    // waitFor returns once D1 agrees with each object: the alarm retried the finish until its projection landed.
    for (const id of ids) expect((await waitFor(api, id)).status).toBe("succeeded");
  });

  it("projects every one of many runs that end together, and leaves no slot held", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "many",
        nodes: [
          { id: "a", kind: "transform", config: { expression: "input.n" } },
          { id: "b", kind: "transform", needs: ["a"], config: { expression: "nodes.a.output * 2" } },
        ],
        input_schema: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
      })
    ).body.id as string;
    const started = await Promise.all(
      Array.from({ length: 30 }, (_, n) => api.post(`/v1/workflows/${wf}/executions`, { input: { n } })),
    );
    expect(started.map((r) => r.status)).toEqual(started.map(() => 201));
    const done = await Promise.all(started.map((r) => waitFor(api, r.body.id)));
    expect(done.map((d) => d.output)).toEqual(started.map((_, n) => ({ b: n * 2 })));
    const listed = await api.get(`/v1/executions?workflow_id=${wf}&status=succeeded&limit=100`);
    expect(listed.body.data).toHaveLength(30);
    // waitFor saw each projection in D1, and a run's release comes before its projection in the same call.
    expect(await env.TENANT.get(env.TENANT.idFromName(tenantId)).queued("__running__")).toBe(0);
  });
});

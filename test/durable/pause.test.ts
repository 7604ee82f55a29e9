import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, target, targetCalls, waitFor, waitForNode } from "../support/api";

describe("pause and resume", () => {
  it("lets the running attempt finish, starts nothing new, and continues on resume", async () => {
    const api = client((await createTenant()).token);
    const k = `pause-${Date.now()}`;
    const { executionId } = await run(api, {
      name: "p",
      nodes: [
        { id: "slow", kind: "http", config: { url: target(`/slow/${k}-a?ms=400`) } },
        { id: "next", kind: "http", needs: ["slow"], config: { url: target(`/slow/${k}-b?ms=10`) } },
      ],
    });
    await waitForNode(api, executionId, "slow", "running");
    const paused = await api.post(`/v1/executions/${executionId}/pause`);
    expect(paused.body).toEqual({ id: executionId, status: "paused" });
    await waitForNode(api, executionId, "slow", "succeeded");
    await new Promise((r) => setTimeout(r, 300));
    const view = (await api.get(`/v1/executions/${executionId}`)).body;
    expect(view.status).toBe("paused");
    expect(view.nodes[1].status).toBe("pending");
    expect((await targetCalls(`${k}-b`)).calls).toHaveLength(0);
    expect((await api.post(`/v1/executions/${executionId}/pause`)).status).toBe(409);

    expect((await api.post(`/v1/executions/${executionId}/resume`)).body.status).toBe("running");
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const types = ((await api.get(`/v1/executions/${executionId}/events?limit=1000`)).body.data as any[]).map(
      (e) => e.type,
    );
    expect(types.indexOf("execution.paused")).toBeLessThan(types.indexOf("execution.resumed"));
    expect((await api.post(`/v1/executions/${executionId}/resume`)).status).toBe(409);
  });

  it("holds timers that fall due while paused until resume, across an eviction", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "sleepy",
      nodes: [
        { id: "nap", kind: "sleep", config: { duration_ms: 200 } },
        { id: "after", kind: "transform", needs: ["nap"], config: { expression: "'done'" } },
      ],
    });
    await waitForNode(api, executionId, "nap", "waiting");
    await api.post(`/v1/executions/${executionId}/pause`);
    await evictDurableObject(executionStub(env, executionId));
    await new Promise((r) => setTimeout(r, 500));
    const view = (await api.get(`/v1/executions/${executionId}`)).body;
    expect(view.status).toBe("paused");
    expect(view.nodes.map((n: any) => n.status)).toEqual(["waiting", "pending"]);
    await api.post(`/v1/executions/${executionId}/resume`);
    const done = await waitFor(api, executionId);
    expect(done.output).toEqual({ after: "done" });
  });

  it("can cancel a paused execution, and hides it from other tenants", async () => {
    const api = client((await createTenant()).token);
    const other = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "w",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "x" } }],
    });
    await waitForNode(api, executionId, "w", "waiting");
    expect((await other.post(`/v1/executions/${executionId}/pause`)).status).toBe(404);
    await api.post(`/v1/executions/${executionId}/pause`);
    expect((await api.get(`/v1/executions?status=paused`)).status).toBe(200);
    expect((await api.post(`/v1/executions/${executionId}/cancel`)).body.status).toBe("cancelled");
    expect((await waitFor(api, executionId)).status).toBe("cancelled");
  });
});

import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, projection, run, waitFor, waitForNode } from "../support/api";
import { MINUTE, tick } from "../support/cron";

describe("watchdog", () => {
  it("times out an execution whose deadline passed while its alarm was lost", async () => {
    const api = client((await createTenant()).token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "stuck",
        nodes: [{ id: "w", kind: "wait_for_event", config: { event: "never" } }],
      })
    ).body.id;
    const ex = (await api.post(`/v1/workflows/${wf}/executions`, { timeout_seconds: 1 })).body.id;
    await waitForNode(api, ex, "w", "waiting");
    // Simulate the lost timer: the object's alarm is gone, so nothing would ever wake it.
    await runInDurableObject(executionStub(env, ex), async (_instance, state) => state.storage.deleteAlarm());
    await new Promise((r) => setTimeout(r, 1200));
    expect((await api.get(`/v1/executions/${ex}`)).body.status).toBe("running");
    await tick(Date.now());
    const done = await waitFor(api, ex);
    expect(done.status).toBe("timed_out");
    expect(done.nodes[0].status).toBe("cancelled");
  });

  it("re-projects a quiet execution so D1's projected_at moves and it is not poked every tick", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "quiet",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "later" } }],
    });
    await waitForNode(api, executionId, "w", "waiting");
    const before = (await projection(executionId))?.execution.projected_at as number;
    // Eleven minutes later the DO has been quiet past WATCHDOG_STALL_SECONDS (600 s).
    await tick(Date.now() + 11 * MINUTE);
    const after = (await projection(executionId))?.execution.projected_at as number;
    expect(after).toBeGreaterThan(before);
    expect((await projection(executionId))?.execution.status).toBe("running");
  });
});

describe("retention", () => {
  it("removes only executions and history older than RETENTION_DAYS, Durable Object storage included", async () => {
    const api = client((await createTenant()).token);
    const old = (await run(api, { name: "old", nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }] }))
      .executionId;
    await waitFor(api, old);
    const running = (
      await run(api, { name: "running", nodes: [{ id: "w", kind: "wait_for_event", config: { event: "x" } }] })
    ).executionId;
    await waitForNode(api, running, "w", "waiting");

    await tick(Date.now() + 31 * 24 * 60 * MINUTE);
    expect(await projection(old)).toBeNull();
    expect((await api.get(`/v1/executions/${old}`)).status).toBe(404);
    expect((await api.get(`/v1/executions/${old}/events`)).status).toBe(404);
    // An unfinished execution is never removed, however old.
    expect((await api.get(`/v1/executions/${running}`)).body.status).toBe("running");
    expect((await projection(running))?.execution.status).toBe("running");

    const recent = (
      await run(api, { name: "recent", nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }] })
    ).executionId;
    await waitFor(api, recent);
    await tick(Date.now() + MINUTE);
    expect((await projection(recent))?.execution.status).toBe("succeeded");
  });
});

describe("retention of conversations", () => {
  it("erases a conversation with no message for its workflow's retention_days, its turns with it, and keeps the rest", async () => {
    const api = client((await createTenant()).token);
    const turn = [{ id: "turn", kind: "transform", config: { expression: "{'reply': 'ok ' & input.message}" } }];
    const short = await api.post("/v1/workflows", { name: "short", retention_days: 2, nodes: turn });
    const long = await api.post("/v1/workflows", { name: "long", nodes: turn });
    const a = (await api.post("/v1/conversations", { workflow_id: short.body.id })).body.id as string;
    const b = (await api.post("/v1/conversations", { workflow_id: long.body.id })).body.id as string;
    const sent = await api.post(`/v1/conversations/${a}/messages`, { content: "hi" }, { prefer: "wait=20" });
    expect(sent.body.reply.content).toBe("ok hi");
    await api.post(`/v1/conversations/${b}/messages`, { content: "hi" }, { prefer: "wait=20" });
    const turnRun = sent.body.execution_id as string;

    await tick(Date.now() + 3 * 24 * 60 * MINUTE);
    expect((await api.get(`/v1/conversations/${a}`)).status).toBe(404);
    expect((await api.get(`/v1/conversations/${a}/messages`)).status).toBe(404);
    expect((await api.get(`/v1/executions/${turnRun}`)).status).toBe(404);
    expect((await api.get(`/v1/conversations/${b}`)).body.message_count).toBe(2);
    expect((await api.get("/v1/conversations")).body.data.map((c: any) => c.id)).toEqual([b]);
  });
});

describe("watchdog: running slots", () => {
  it("frees a running slot whose release was lost, so the tenant's running count is true again", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const { executionId } = await run(api, {
      name: "done",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    });
    await waitFor(api, executionId);
    const tenant = env.TENANT.get(env.TENANT.idFromName(tenantId));
    // The release never arrived: the finished execution still holds a slot, with a lease long run out.
    await runInDurableObject(tenant, async (_o, state) => {
      state.storage.sql.exec(
        "INSERT INTO slot_holders (execution_id, lane, lease_until) VALUES (?, 'default', 0)",
        executionId,
      );
    });
    expect(await tenant.queued("__running__")).toBe(1);
    await tick(Date.now());
    expect(await tenant.queued("__running__")).toBe(0);
  });
});

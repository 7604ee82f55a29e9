import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub, tenantStub } from "../../src/durable/client";
import { client, createTenant, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";

// A running execution that only waits (an event, an approval, a child, a long sleep) gives its running slot back and
// asks for one again once it can move. MAX_RUNNING_EXECUTIONS_PER_TENANT is 20 in tests.

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const queues = async (api: Client) => (await api.get("/v1/queues")).body;

describe("parked runs give their running slot back", () => {
  it("25 runs waiting for an event all run on 20 slots, hold none, sleep without alarms, and finish when told", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "wait then go",
      nodes: [
        { id: "w", kind: "wait_for_event", config: { event: "go" } },
        { id: "after", kind: "transform", needs: ["w"], config: { expression: "nodes.w.output.payload.n * 2" } },
      ],
    });
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const started = await api.post(`/v1/workflows/${wf.body.id}/executions`, {});
      expect(started.body.status).toBe("running");
      ids.push(started.body.id);
    }
    for (const id of ids) await waitForNode(api, id, "w", "waiting");
    const q = await until(
      () => queues(api),
      (b) => b.slots.parked === 25,
    );
    expect(q.slots).toEqual({ capacity: 20, running: 0, queued: 0, parked: 25 });
    expect(q.lanes.find((l: any) => l.lane === "default")).toEqual({
      lane: "default",
      running: 0,
      queued: 0,
      parked: 25,
    });
    expect(q.workflows).toEqual([{ workflow_id: wf.body.id, lane: "default", running: 0, queued: 0, parked: 25 }]);
    // A parked run's one alarm is its deadline, not "now": 25 waiting runs cost nothing while they wait.
    const alarm = await runInDurableObject(executionStub(env, ids[0]!), (_o, s) => s.storage.getAlarm());
    expect(alarm! - Date.now()).toBeGreaterThan(60_000);

    for (const [i, id] of ids.entries())
      await api.post(`/v1/executions/${id}/events`, { name: "go", payload: { n: i } });
    for (const [i, id] of ids.entries()) expect((await waitFor(api, id)).output).toEqual({ after: i * 2 });
    expect(
      (
        await until(
          () => queues(api),
          (b) => b.slots.parked === 0,
        )
      ).slots,
    ).toEqual({
      capacity: 20,
      running: 0,
      queued: 0,
      parked: 0,
    });
  });

  it("a woken run waits for a slot like anyone else when all 20 are busy, in the interactive lane", async () => {
    const api = client((await createTenant()).token);
    const k = `park-${crypto.randomUUID()}`;
    const waiter = await api.post("/v1/workflows", {
      name: "approve then call",
      nodes: [
        { id: "w", kind: "wait_for_event", config: { event: "go" } },
        { id: "call", kind: "http", needs: ["w"], config: { method: "GET", url: target(`/slow/${k}-woken?ms=10`) } },
      ],
    });
    const busy = await api.post("/v1/workflows", {
      name: "busy",
      nodes: [{ id: "b", kind: "http", config: { method: "GET", url: target(`/slow/${k}-busy?ms=2500`) } }],
    });
    const parked = (await api.post(`/v1/workflows/${waiter.body.id}/executions`, {})).body.id;
    await waitForNode(api, parked, "w", "waiting");
    await until(
      () => queues(api),
      (b) => b.slots.parked === 1,
    );
    const busyIds: string[] = [];
    for (let i = 0; i < 20; i++) busyIds.push((await api.post(`/v1/workflows/${busy.body.id}/executions`, {})).body.id);
    expect((await queues(api)).slots).toMatchObject({ running: 20, parked: 1 });

    await api.post(`/v1/executions/${parked}/events`, { name: "go" });
    const asked = await until(
      () => queues(api),
      (b) => b.lanes.find((l: any) => l.lane === "interactive").queued === 1,
    );
    expect(asked.slots).toMatchObject({ running: 20, queued: 1, parked: 0 });
    expect((await waitFor(api, parked)).status).toBe("succeeded");
    for (const id of busyIds) expect((await waitFor(api, id)).status).toBe("succeeded");
    const [woken] = (await targetCalls(`${k}-woken`)).calls;
    const firstFree = Math.min(...(await targetCalls(`${k}-busy`)).calls.map((c) => c.finished_at!));
    expect(woken!.started_at).toBeGreaterThanOrEqual(firstFree);
  });

  it("25 parents waiting for their children on 20 slots do not deadlock: the parents lend their slots", async () => {
    const api = client((await createTenant()).token);
    const child = await api.post("/v1/workflows", {
      name: "child",
      nodes: [{ id: "c", kind: "transform", config: { expression: "input.n + 100" } }],
    });
    // Every parent holds a slot (busy for a second) before it starts its child: the 20 slots are all parents'.
    const parent = await api.post("/v1/workflows", {
      name: "parent",
      timeout_seconds: 20,
      nodes: [
        { id: "first", kind: "http", config: { method: "GET", url: target(`/slow/parent-first?ms=1000`) } },
        {
          id: "sub",
          kind: "workflow",
          needs: ["first"],
          config: { workflow_id: child.body.id, input: { n: "{{ input.n }}" } },
        },
        { id: "out", kind: "transform", needs: ["sub"], config: { expression: "nodes.sub.output.output.c" } },
      ],
    });
    const ids: string[] = [];
    for (let n = 0; n < 25; n++)
      ids.push((await api.post(`/v1/workflows/${parent.body.id}/executions`, { input: { n } })).body.id);
    expect((await queues(api)).slots).toMatchObject({ running: 20, queued: 5 });
    for (const [n, id] of ids.entries()) {
      const done = await waitFor(api, id);
      expect([done.status, done.output]).toEqual(["succeeded", { out: n + 100 }]);
    }
  });

  it("a release lost on its way is healed: the stale holder is asked, says it is parked, and becomes parked", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = await api.post("/v1/workflows", {
      name: "lost park",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "go" } }],
    });
    const id = (await api.post(`/v1/workflows/${wf.body.id}/executions`, {})).body.id;
    await waitForNode(api, id, "w", "waiting");
    await until(
      () => queues(api),
      (b) => b.slots.parked === 1,
    );
    const tenant = tenantStub(env, tenantId);
    // As if the park never arrived: the TenantObject still counts the run as holding a slot, its lease run out.
    await runInDurableObject(tenant, async (_o, state) => {
      state.storage.sql.exec("DELETE FROM slot_parked WHERE execution_id = ?", id);
      state.storage.sql.exec(
        "INSERT INTO slot_holders (execution_id, lane, grp, lease_until) VALUES (?, 'default', ?, 0)",
        id,
        wf.body.id,
      );
    });
    expect((await queues(api)).slots).toMatchObject({ running: 1, parked: 0 });
    expect(await tenant.reconcile()).toEqual({ checked: 1, dropped: 0 });
    expect((await queues(api)).slots).toMatchObject({ running: 0, parked: 1 });
    await api.post(`/v1/executions/${id}/events`, { name: "go" });
    expect((await waitFor(api, id)).status).toBe("succeeded");
    expect(
      (
        await until(
          () => queues(api),
          (b) => b.slots.parked === 0,
        )
      ).slots,
    ).toMatchObject({ running: 0 });
  });

  it("keeps its concurrency key while parked: the next run of the key waits until the parked one ends", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "one per account",
      concurrency_key: "{{ input.account }}",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "go" } }],
    });
    const first = (await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { account: "a" } })).body.id;
    await waitForNode(api, first, "w", "waiting");
    const second = (await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { account: "a" } })).body.id;
    const q = await until(
      () => queues(api),
      (b) => b.slots.parked === 1,
    );
    expect(q.keys).toEqual([{ key: "a", running: 1, queued: 1 }]);
    expect((await api.get(`/v1/executions/${second}`)).body.status).toBe("queued");
    await api.post(`/v1/executions/${first}/events`, { name: "go" });
    await waitForNode(api, second, "w", "waiting");
    await api.post(`/v1/executions/${second}/events`, { name: "go" });
    expect((await waitFor(api, second)).status).toBe("succeeded");
  });
});

import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SlotStore, type SlotAsk } from "../../src/db/slot-store";
import type { Lane } from "../../src/engine/fair-share";
import { client, createTenant, target, waitFor } from "../support/api";

// The running slots' dispatch order, in a TenantObject's own SQLite, with the scenarios peers publish for fairness:
// a flood, a backlog spread over many keys, an idle neighbour, and lanes. "A dispatch cycle" is one slot freed.
type Ask = Omit<SlotAsk, "capacity" | "leaseUntil">;

/** A SlotStore of `capacity` slots in a fresh TenantObject's storage, driven synchronously inside the object. */
async function slots<T>(capacity: number, drive: (q: Queue) => T): Promise<T> {
  const stub = env.TENANT.get(env.TENANT.idFromName(`fair-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_o, state) => drive(new Queue(new SlotStore(state.storage.sql), capacity)));
}

class Queue {
  readonly running = new Set<string>();
  /** Everyone let in by a release, in order. */
  readonly dispatched: string[] = [];
  constructor(
    readonly store: SlotStore,
    readonly capacity: number,
  ) {}
  ask(a: Ask): boolean {
    const r = this.store.acquire({ ...a, capacity: this.capacity, leaseUntil: Date.now() + 60_000 });
    for (const id of r.admitted) this.running.add(id);
    if (r.granted) this.running.add(a.executionId);
    return r.granted;
  }
  /** One dispatch cycle: the oldest running execution ends; returns who was let in. */
  cycle(): string[] {
    const [first] = this.running;
    if (first === undefined) throw new Error("nothing runs");
    this.running.delete(first);
    const admitted = this.store.release(first, this.capacity, Date.now() + 60_000);
    for (const id of admitted) this.running.add(id);
    this.dispatched.push(...admitted);
    return admitted;
  }
  /** Dispatch cycles until `id` runs (0: it ran at once). */
  cyclesUntil(id: string, max = 10_000): number {
    for (let n = 0; n <= max; n++) {
      if (this.running.has(id)) return n;
      this.cycle();
    }
    throw new Error(`${id} never ran`);
  }
}

const run = (executionId: string, group: string, key = "", lane: Lane = "default"): Ask => ({
  executionId,
  group,
  key,
  lane,
});

describe("fair admission to running slots", () => {
  it("flood: a workflow with 1,000 queued does not hold back another's one run beyond its fair share", async () => {
    const cycles = await slots(4, (q) => {
      for (let i = 0; i < 1000; i++) q.ask(run(`a${i}`, "wf_a"));
      expect(q.running.size).toBe(4);
      expect(q.ask(run("b", "wf_b"))).toBe(false);
      return q.cyclesUntil("b");
    });
    // Two workflows waiting: B's share is every other dispatch, so it runs within two cycles (FIFO: 997).
    expect(cycles).toBeLessThanOrEqual(2);
  });

  it("many keys: spreading the backlog over 100 concurrency keys wins nothing against another workflow", async () => {
    const waitOf = (keys: number) =>
      slots(4, (q) => {
        for (let i = 0; i < 1000; i++) q.ask(run(`a${i}`, "wf_a", `k${i % keys}`));
        q.ask(run("b", "wf_b", "only"));
        // B's wait, measured as A's runs let in before it.
        let before = 0;
        while (!q.running.has("b")) before += q.cycle().filter((id) => id !== "b").length;
        return before;
      });
    const single = await waitOf(1);
    const spread = await waitOf(100);
    expect(Math.abs(spread - single)).toBeLessThanOrEqual(Math.max(1, single * 0.1));
    // Within its workflow, the keys take turns: the first 100 dispatched after the first four are 100 keys.
    const order = await slots(4, (q) => {
      for (let i = 0; i < 1000; i++) q.ask(run(`a${i}`, "wf_a", `k${Math.floor(i / 10)}`));
      return Array.from({ length: 100 }, () => q.cycle()).flat();
    });
    expect(new Set(order.map((id) => Math.floor(Number(id.slice(1)) / 10))).size).toBe(100);
  });

  it("work-conserving: with nobody else waiting, one workflow uses every slot until its backlog is gone", async () => {
    await slots(5, (q) => {
      for (let i = 0; i < 50; i++) q.ask(run(`a${i}`, "wf_a", `k${i % 3}`));
      expect(q.running.size).toBe(5);
      for (let i = 0; i < 45; i++) {
        expect(q.cycle()).toHaveLength(1);
        expect(q.running.size).toBe(5);
      }
      expect(q.store.size()).toBe(5);
    });
    // The batch lane leaves a tenth of the slots (at least one) to interactive runs, and uses all the rest.
    await slots(20, (q) => {
      for (let i = 0; i < 100; i++) q.ask(run(`b${i}`, "wf_b", "", "batch"));
      expect(q.running.size).toBe(18);
      q.cycle();
      expect(q.running.size).toBe(18);
    });
  });

  it("lanes: with 10,000 batch runs queued an interactive start runs at once or at the next release; batch still moves", async () => {
    await slots(20, (q) => {
      for (let i = 0; i < 10_000; i++) q.ask(run(`b${i}`, "wf_batch", "", "batch"));
      expect(q.running.size).toBe(18);
      // The first interactive starts run at once, in the headroom.
      expect(q.ask(run("i-first", "wf_chat", "", "interactive"))).toBe(true);
      const waits: number[] = [];
      const asked: number[] = [];
      for (let i = 0; i < 200; i++) {
        const id = `i${i}`;
        const t = performance.now();
        const ran = q.ask(run(id, "wf_chat", "", "interactive"));
        asked.push(performance.now() - t);
        waits.push(ran ? 0 : q.cyclesUntil(id));
      }
      // Past the headroom an interactive start runs at the next release, or the one after when batch has its turn.
      expect(Math.max(...waits)).toBeLessThanOrEqual(2);
      expect(asked.sort((a, b) => a - b)[Math.ceil(asked.length * 0.99) - 1]).toBeLessThan(200);
      // Batch kept its share of the releases (1 in 17 against interactive alone).
      const batch = q.dispatched.filter((id) => id.startsWith("b")).length;
      expect(batch).toBeGreaterThanOrEqual(Math.floor(q.dispatched.length / 17));
      expect(batch).toBeGreaterThan(0);
      expect(q.store.lanes().find((l) => l.lane === "batch")?.queued).toBe(10_000 - 18 - batch);
    });
  });

  it("ages batch: under a steady interactive and default load the batch lane still gets at least 1 dispatch in 21", async () => {
    const got = await slots(4, (q) => {
      let n = 0;
      for (let i = 0; i < 100; i++) q.ask(run(`b${i}`, "wf_batch", "", "batch"));
      for (let i = 0; i < 2000; i++) q.ask(run(`d${i}`, "wf_default"));
      for (let i = 0; i < 2000; i++) q.ask(run(`i${i}`, "wf_chat", "", "interactive"));
      const dispatched = Array.from({ length: 840 }, () => q.cycle()).flat();
      n = dispatched.filter((id) => id.startsWith("b")).length;
      return { batch: n, interactive: dispatched.filter((id) => id.startsWith("i")).length };
    });
    // 840 releases: 40 is batch's 1 in 21, give or take the first round.
    expect(got.batch).toBeGreaterThanOrEqual(38);
    expect(got.interactive).toBeGreaterThan(got.batch * 10);
  });
});

describe("lanes through the API", () => {
  it("refuses an unknown lane with 422 and its path; an interactive start runs while batch items queue", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "lanes",
      nodes: [{ id: "nap", kind: "http", config: { url: target(`/slow/lanes-{{ input.n }}?ms=600`) } }],
    });
    const path = `/v1/workflows/${wf.body.id}/executions`;
    const bad = await api.post(path, { input: { n: 0 }, lane: "urgent" });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ code: "unknown_lane", errors: [{ path: "lane" }] });
    // 25 batch items for 20 slots (the test deployment's): batch takes 18, the rest wait; 2 stay for interactive.
    const batch = await api.post(`${path}/batch`, {
      items: Array.from({ length: 25 }, (_, n) => ({ input: { n: n + 1 } })),
    });
    expect(batch.body.created).toBe(25);
    const statuses = batch.body.items.map((i: any) => i.execution_status);
    expect(statuses.filter((s: string) => s === "running").length).toBe(18);
    const chat = await api.post(path, { input: { n: 99 }, lane: "interactive" });
    expect(chat.body).toMatchObject({ status: "running" });
    // What admission sees, as GET /v1/queues shows it.
    const queues = await api.get("/v1/queues");
    expect(queues.status).toBe(200);
    expect(queues.body.slots).toEqual({ capacity: 20, running: 19, queued: 7, parked: 0 });
    expect(queues.body.lanes).toEqual([
      { lane: "interactive", running: 1, queued: 0, parked: 0 },
      { lane: "default", running: 0, queued: 0, parked: 0 },
      { lane: "batch", running: 18, queued: 7, parked: 0 },
    ]);
    expect(queues.body.workflows[0]).toEqual({
      workflow_id: wf.body.id,
      lane: "batch",
      running: 18,
      queued: 7,
      parked: 0,
    });
    expect((await api.get("/v1/queues?limit=0")).body).toMatchObject({
      code: "validation_failed",
      errors: [{ path: "limit" }],
    });
    for (const i of batch.body.items) expect((await waitFor(api, i.id)).status).toBe("succeeded");
    expect((await waitFor(api, chat.body.id)).status).toBe("succeeded");
  });
});

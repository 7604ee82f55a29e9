import { env } from "cloudflare:workers";
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function tenantApi(): Promise<Client> {
  return client((await createTenant()).token);
}

/** Every node started and finished exactly once in the log, and seq has no gap or repeat. */
async function expectCleanLog(api: Client, id: string, nodes: string[]) {
  const log = (await api.get(`/v1/executions/${id}/events?after=0&limit=1000`)).body.data as any[];
  expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  for (const node of nodes) {
    expect(
      log.filter((e) => e.node_id === node && e.type === "node.started"),
      node,
    ).toHaveLength(1);
    expect(
      log.filter((e) => e.node_id === node && e.type === "node.succeeded"),
      node,
    ).toHaveLength(1);
  }
  expect(log.filter((e) => e.type === "execution.succeeded")).toHaveLength(1);
}

const sideEffectChain = (k: string, slowMs: number) => ({
  name: "side effects",
  nodes: [
    { id: "one", kind: "http", config: { method: "POST", url: target(`/side-effect/${k}-one`), body: { step: 1 } } },
    {
      id: "two",
      kind: "http",
      needs: ["one"],
      config: { method: "POST", url: target(`/side-effect/${k}-two?ms=${slowMs}`), body: { step: 2 } },
    },
    {
      id: "three",
      kind: "http",
      needs: ["two"],
      config: { method: "POST", url: target(`/side-effect/${k}-three`), body: { step: 3 } },
    },
  ],
});

describe("durability across crashes and evictions", () => {
  it("re-runs only the attempt cut off by a hard crash, with the same idempotency key", async () => {
    const api = await tenantApi();
    const k = key("crash");
    const { executionId } = await run(api, sideEffectChain(k, 800));
    await waitForNode(api, executionId, "two", "running");
    // Let the request reach the target so the side effect happens before the crash.
    await new Promise((r) => setTimeout(r, 200));
    await abortAllDurableObjects();
    await runDurableObjectAlarm(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes.map((x: any) => x.attempts)).toEqual([1, 1, 1]);

    const one = await targetCalls(`${k}-one`);
    const two = await targetCalls(`${k}-two`);
    const three = await targetCalls(`${k}-three`);
    expect(one.calls).toHaveLength(1);
    expect(three.calls).toHaveLength(1);
    expect(two.calls.length).toBeGreaterThanOrEqual(2);
    expect(new Set(two.calls.map((c) => c.idempotency_key))).toEqual(new Set([`${executionId}:two`]));
    // The target dedupes by idempotency key, so the side effect happened once.
    expect(Object.keys(two.effects)).toEqual([`${executionId}:two`]);
    await expectCleanLog(api, executionId, ["one", "two", "three"]);
  });

  it("resumes after a crash right after start, before any node ran", async () => {
    const api = await tenantApi();
    const k = key("early");
    const { executionId } = await run(api, sideEffectChain(k, 0));
    await abortAllDurableObjects();
    await runDurableObjectAlarm(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    for (const step of ["one", "two", "three"])
      expect(Object.keys((await targetCalls(`${k}-${step}`)).effects)).toHaveLength(1);
    await expectCleanLog(api, executionId, ["one", "two", "three"]);
  });

  it("survives graceful evictions at node boundaries while sleeping", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "naps",
      nodes: [
        { id: "nap1", kind: "sleep", config: { duration_ms: 300 } },
        { id: "mid", kind: "transform", needs: ["nap1"], config: { expression: "'awake'" } },
        { id: "nap2", kind: "sleep", needs: ["mid"], config: { duration_ms: 300 } },
        { id: "end", kind: "transform", needs: ["nap2"], config: { expression: "nodes.mid.output & '!'" } },
      ],
    });
    const stub = executionStub(env, executionId);
    await waitForNode(api, executionId, "nap1", "waiting");
    await evictDurableObject(stub);
    await waitForNode(api, executionId, "nap2", "waiting");
    await evictDurableObject(stub);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ end: "awake!" });
    await expectCleanLog(api, executionId, ["nap1", "mid", "nap2", "end"]);
  });

  it("survives a graceful eviction mid-attempt", async () => {
    const api = await tenantApi();
    const k = key("evict");
    const { executionId } = await run(api, sideEffectChain(k, 500));
    await waitForNode(api, executionId, "two", "running");
    await evictDurableObject(executionStub(env, executionId));
    await runDurableObjectAlarm(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(Object.keys((await targetCalls(`${k}-two`)).effects)).toEqual([`${executionId}:two`]);
    expect((await targetCalls(`${k}-one`)).calls).toHaveLength(1);
    await expectCleanLog(api, executionId, ["one", "two", "three"]);
  });

  it("keeps retry timers across a crash", async () => {
    const api = await tenantApi();
    const k = key("retry-crash");
    const { executionId } = await run(api, {
      name: "retry",
      nodes: [
        {
          id: "call",
          kind: "http",
          retry: { max_attempts: 3, initial_delay_ms: 300, jitter: false },
          config: { url: target(`/flaky/${k}?fail=1`) },
        },
      ],
    });
    await waitForNode(api, executionId, "call", "retrying");
    await abortAllDurableObjects();
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].attempts).toBe(2);
    // One key across the retry (the attempt number rides in Edgeflow-Attempt).
    expect((await targetCalls(k)).calls.map((c) => [c.idempotency_key, c.attempt])).toEqual([
      [`${executionId}:call`, "1"],
      [`${executionId}:call`, "2"],
    ]);
  });
});

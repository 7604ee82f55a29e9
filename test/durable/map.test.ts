import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function tenantApi(): Promise<Client> {
  return client((await createTenant()).token);
}

/** Every item of a map node, through the paged items endpoint. */
async function allItems(api: Client, id: string, node: string, status?: string): Promise<any[]> {
  const out: any[] = [];
  let after = -1;
  for (;;) {
    const page = (
      await api.get(
        `/v1/executions/${id}/nodes/${node}/items?after=${after}&limit=1000${status ? `&status=${status}` : ""}`,
      )
    ).body;
    out.push(...page.data);
    if (page.next_after === null) return out;
    after = page.next_after;
  }
}

async function allEvents(api: Client, id: string): Promise<any[]> {
  const out: any[] = [];
  for (;;) {
    const page = (await api.get(`/v1/executions/${id}/events?after=${out.length}&limit=1000`)).body.data as any[];
    if (page.length === 0) return out;
    out.push(...page);
  }
}

/** The most calls that were in flight at the target at one moment. */
function maxOverlap(calls: { started_at: number; finished_at?: number }[]): number {
  const edges = calls
    .flatMap(
      (c) =>
        [
          [c.started_at, 1],
          [c.finished_at ?? Infinity, -1],
        ] as [number, number][],
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (open += d));
  return max;
}

async function waitForItems(api: Client, id: string, node: string, succeeded: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const view = (await api.get(`/v1/executions/${id}`)).body;
    if ((view.nodes.find((x: any) => x.node_id === node)?.items?.succeeded ?? 0) >= succeeded) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`map ${node} never reached ${succeeded} succeeded items`);
}

describe("map nodes", () => {
  it("runs an http node per item with at most max_concurrency in flight, outputs in input order", async () => {
    const api = await tenantApi();
    const k = key("map-conc");
    const items = Array.from({ length: 9 }, (_, i) => `${k}-${i}`);
    const { executionId } = await run(
      api,
      {
        name: "fan out",
        nodes: [
          // Later items answer sooner, so completion order is the reverse of input order.
          {
            id: "fetch",
            kind: "map",
            config: {
              items: "input.keys",
              max_concurrency: 3,
              node: { kind: "http", config: { url: target("/slow/{{ item }}?ms={{ (9 - index) * 25 }}") } },
            },
          },
          {
            id: "keys",
            kind: "transform",
            needs: ["fetch"],
            config: { expression: "nodes.fetch.output.results.body.key" },
          },
        ],
      },
      { keys: items },
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ keys: items });
    expect(done.nodes[0]).toMatchObject({ status: "succeeded", items: { total: 9, succeeded: 9, failed: 0 } });
    expect(done.nodes[0].output).toMatchObject({ total: 9, succeeded: 9, failed: 0, failures: [] });

    const calls = (await Promise.all(items.map((i) => targetCalls(i)))).flatMap((c) => c.calls);
    expect(calls).toHaveLength(9);
    expect(maxOverlap(calls)).toBeLessThanOrEqual(3);
    expect(maxOverlap(calls)).toBeGreaterThanOrEqual(2);
    // One idempotency key per item attempt.
    expect(new Set(calls.map((c) => c.idempotency_key))).toEqual(
      new Set(items.map((_, i) => `${executionId}:fetch[${i}]`)),
    );
  });

  it("reports per-item failures: tolerated ones leave holes, one more fails the node and stops starting items", async () => {
    const api = await tenantApi();
    const k = key("map-fail");
    const template = (status: string) => ({
      kind: "http",
      retry: { max_attempts: 2, initial_delay_ms: 5, jitter: false },
      config: { url: target(`/status/{{ ${status} }}/${k}-{{ index }}`) },
    });
    const tolerant = await run(api, {
      name: "tolerant",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: { items: "[1..6]", tolerated_failures: 2, node: template("item % 3 = 0 ? 500 : 200") },
        },
      ],
    });
    const ok = await waitFor(api, tolerant.executionId);
    expect(ok.status).toBe("succeeded");
    const out = ok.nodes[0].output;
    expect(out.results.map((r: any) => r?.status ?? null)).toEqual([200, 200, null, 200, 200, null]);
    expect(out.failures).toEqual([
      { index: 2, code: "http_500", message: expect.any(String) },
      { index: 5, code: "http_500", message: expect.any(String) },
    ]);
    const failed = await allItems(api, tolerant.executionId, "m", "failed");
    expect(failed.map((i) => [i.index, i.attempts, i.item, i.error.code])).toEqual([
      [2, 2, 3, "http_500"],
      [5, 2, 6, "http_500"],
    ]);
    expect((await targetCalls(`${k}-2`)).calls.map((c) => c.idempotency_key)).toEqual([
      `${tolerant.executionId}:m[2]`,
      `${tolerant.executionId}:m[2]`,
    ]);

    const strict = await run(api, {
      name: "strict",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: { items: "[1..40]", max_concurrency: 1, node: template("item = 2 ? 404 : 200") },
        },
      ],
    });
    const bad = await waitFor(api, strict.executionId);
    expect(bad.status).toBe("failed");
    expect(bad.nodes[0]).toMatchObject({ status: "failed", error: { code: "map_items_failed" } });
    expect(bad.nodes[0].error.message).toContain("[1] http_404");
    expect(bad.nodes[0].items).toMatchObject({ total: 40, succeeded: 1, failed: 1, cancelled: 38 });
    expect((await allItems(api, strict.executionId, "m", "cancelled")).map((i) => i.index)).toEqual(
      Array.from({ length: 38 }, (_, i) => i + 2),
    );
  });

  it("maps 10,000 items in chunks across alarm invocations, outputs in order", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "ten thousand",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: {
            items: "[0..9999]",
            max_concurrency: 50,
            node: { kind: "transform", config: { expression: "{ 'n': item, 'twice': item * 2, 'at': index }" } },
          },
        },
        {
          id: "check",
          kind: "transform",
          needs: ["m"],
          config: { expression: "$count(nodes.m.output.results[twice = n * 2 and at = n])" },
        },
      ],
    });
    const done = await waitFor(api, executionId, undefined, 120_000);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ check: 10_000 });
    expect(done.nodes[0].items).toMatchObject({ total: 10_000, succeeded: 10_000 });
    // 10,000 outputs are more than a row keeps: the view holds the R2 reference, the output endpoint the value.
    expect(done.nodes[0].output.$ref).toBe(`r2://executions/${executionId}/m/1`);
    const results = (await api.get(`/v1/executions/${executionId}/nodes/m/output`)).body.results as { n: number }[];
    expect(results.map((r) => r.n)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    // MAP_ITEMS_PER_INVOCATION is 500 in tests: 20 invocations, each ending in a chunk hand-over but the last.
    const chunks = (await allEvents(api, executionId)).filter(
      (e) => e.type === "node.progress" && e.data.reason === "chunk",
    );
    expect(chunks.length).toBeGreaterThanOrEqual(19);
    // The node's end carries its final counts, so a client folding the log (the dashboard) ends on 10,000 of 10,000.
    const end = (await allEvents(api, executionId)).find((e) => e.type === "node.succeeded");
    expect(end?.data.items).toMatchObject({ total: 10_000, succeeded: 10_000, running: 0 });
    expect(chunks.map((e) => e.data.items.succeeded)).toEqual(
      [...chunks.map((e) => e.data.items.succeeded)].sort((a, b) => a - b),
    );
    expect((await allItems(api, executionId, "m")).map((i) => i.attempts).every((a) => a === 1)).toBe(true);
  }, 180_000);

  it("runs a sub-workflow per item as child executions", async () => {
    const api = await tenantApi();
    const child = (
      await api.post("/v1/workflows", {
        name: "square",
        nodes: [{ id: "sq", kind: "transform", config: { expression: "input.n * input.n" } }],
      })
    ).body.id;
    const { executionId } = await run(
      api,
      {
        name: "children",
        nodes: [
          {
            id: "each",
            kind: "map",
            config: {
              items: "input.ns",
              max_concurrency: 2,
              node: { kind: "workflow", config: { workflow_id: child, input: { n: "{{ item }}" } } },
            },
          },
        ],
      },
      { ns: [1, 2, 3, 4, 5] },
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const results = done.nodes[0].output.results as { execution_id: string; output: { sq: number } }[];
    expect(results.map((r) => r.output.sq)).toEqual([1, 4, 9, 16, 25]);
    const kids = (await api.get(`/v1/executions?workflow_id=${child}`)).body.data as { id: string }[];
    expect(new Set(kids.map((c) => c.id))).toEqual(new Set(results.map((r) => r.execution_id)));
    const view = (await api.get(`/v1/executions/${results[2]?.execution_id}`)).body;
    expect(view.parent).toEqual({ execution_id: executionId, node_id: "each" });
    // max_concurrency bounds the children running at once, and each park is told once: node.waiting carries the
    // item counts, with no progress event echoing it.
    const events = await allEvents(api, executionId);
    const counts = events.filter((e) => e.data?.items).map((e) => e.data.items as { running: number; waiting: number });
    expect(Math.max(...counts.map((c) => c.running + c.waiting))).toBe(2);
    const parks = events.filter((e) => e.type === "node.waiting");
    expect(parks.length).toBeGreaterThan(0);
    for (const park of parks) expect([1, 2]).toContain(park.data.items.waiting);
    expect(events.filter((e) => e.type === "node.progress" && e.data.reason === "waiting")).toEqual([]);
  });

  it("resumes after a hard crash mid-map: no item's side effect twice, none lost", async () => {
    const api = await tenantApi();
    const k = key("map-crash");
    const { executionId } = await run(api, {
      name: "crash mid-map",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: {
            items: "[0..11]",
            max_concurrency: 3,
            node: {
              kind: "http",
              config: { method: "POST", url: target(`/side-effect/${k}?ms=60`), body: { i: "{{ item }}" } },
            },
          },
        },
      ],
    });
    await waitForItems(api, executionId, "m", 3);
    await abortAllDurableObjects();
    await runDurableObjectAlarm(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].output.results.map((r: any) => r.body.body.i)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
    const seen = await targetCalls(k);
    // The target dedupes by idempotency key: exactly one effect per item, each under that item's first-attempt key.
    expect(Object.keys(seen.effects).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `${executionId}:m[${i}]`).sort(),
    );
    const log = await allEvents(api, executionId);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.filter((e) => e.type === "node.succeeded")).toHaveLength(1);
  });

  it("pauses between items (in-flight items finish) and resumes where it stopped; cancel cancels item children", async () => {
    const api = await tenantApi();
    const k = key("map-pause");
    const { executionId } = await run(api, {
      name: "pause map",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: {
            items: "[0..5]",
            max_concurrency: 1,
            node: { kind: "http", config: { url: target(`/slow/${k}?ms=80`) } },
          },
        },
      ],
    });
    await waitForItems(api, executionId, "m", 1);
    expect((await api.post(`/v1/executions/${executionId}/pause`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const paused = (await api.get(`/v1/executions/${executionId}`)).body;
    expect(paused.status).toBe("paused");
    const atPause = paused.nodes[0].items.succeeded as number;
    expect(atPause).toBeLessThanOrEqual(2);
    expect(paused.nodes[0].items.running).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect((await targetCalls(k)).calls).toHaveLength(atPause);
    expect((await api.post(`/v1/executions/${executionId}/resume`)).status).toBe(200);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect((await targetCalls(k)).calls).toHaveLength(6);

    const child = (
      await api.post("/v1/workflows", {
        name: "waits",
        nodes: [{ id: "w", kind: "wait_for_event", config: { event: "never" } }],
      })
    ).body.id;
    const parent = await run(api, {
      name: "map of children",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: { items: "[1, 2]", node: { kind: "workflow", config: { workflow_id: child } } },
        },
      ],
    });
    await waitForNode(api, parent.executionId, "m", "waiting");
    expect((await api.post(`/v1/executions/${parent.executionId}/cancel`)).status).toBe(200);
    const kids = (await api.get(`/v1/executions?workflow_id=${child}`)).body.data as { id: string }[];
    expect(kids).toHaveLength(2);
    for (const kid of kids) expect((await waitFor(api, kid.id)).status).toBe("cancelled");
    expect((await allItems(api, parent.executionId, "m")).map((i) => i.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("redrive re-runs only the items that failed, keeping the outputs of the rest", async () => {
    const api = await tenantApi();
    const k = key("map-redrive");
    const { executionId } = await run(api, {
      name: "redrive map",
      // Items 1 and 3 fail their first call (and have no retries); everything else succeeds at once.
      nodes: [
        {
          id: "m",
          kind: "map",
          config: {
            items: "[0..4]",
            max_concurrency: 5,
            node: {
              kind: "http",
              retry: { max_attempts: 1 },
              config: { url: target(`/flaky/${k}-{{ index }}?fail={{ index % 2 }}`) },
            },
          },
        },
      ],
    });
    const first = await waitFor(api, executionId);
    expect(first.status).toBe("failed");
    expect(first.nodes[0].items).toMatchObject({ succeeded: 3, failed: 2 });
    expect((await api.post(`/v1/executions/${executionId}/redrive`)).status).toBe(200);
    const done = await waitFor(api, executionId, ["succeeded", "failed"]);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].output.results.map((r: any) => r.body.calls)).toEqual([1, 2, 1, 2, 1]);
    for (const i of [0, 2, 4]) expect((await targetCalls(`${k}-${i}`)).calls, `item ${i}`).toHaveLength(1);
    // A redrive is a deliberate new try: the re-run item gets a new key (r<attempts before it>), its attempt counts on.
    expect((await targetCalls(`${k}-1`)).calls.map((c) => [c.idempotency_key, c.attempt])).toEqual([
      [`${executionId}:m[1]`, "1"],
      [`${executionId}:m[1]:r1`, "2"],
    ]);
  });

  it("refuses bad map definitions with exact paths, and fails a run whose items are not an array", async () => {
    const api = await tenantApi();
    const bad = async (config: unknown, extra: Record<string, unknown> = {}) =>
      (
        await api.post("/v1/workflows", { name: "bad map", nodes: [{ id: "m", kind: "map", config, ...extra }] })
      ).body.errors.map((e: any) => e.path);
    expect(await bad({ items: "input.xs", node: { kind: "sleep", config: { duration_ms: 5 } } })).toEqual([
      "nodes[0].config.node.kind",
    ]);
    expect(
      await bad({ items: "input.xs", node: { kind: "http", config: { method: "FETCH", url: "https://example.com" } } }),
    ).toEqual(["nodes[0].config.node.config.method"]);
    expect(await bad({ items: "input.xs", node: { kind: "transform", config: { expression: "(" } } })).toEqual([
      "nodes[0].config.node.config.expression",
    ]);
    expect(await bad({ items: "(", node: { kind: "transform", config: { expression: "item" } } })).toEqual([
      "nodes[0].config.items",
    ]);
    expect(
      await bad(
        { items: "input.xs", node: { kind: "transform", config: { expression: "item" } } },
        { retry: { max_attempts: 2 } },
      ),
    ).toEqual(["nodes[0].retry"]);
    expect(
      await bad({ items: "input.xs", max_concurrency: 0, node: { kind: "transform", config: { expression: "item" } } }),
    ).toEqual(["nodes[0].config.max_concurrency"]);

    const { executionId } = await run(
      api,
      {
        name: "not an array",
        nodes: [
          {
            id: "m",
            kind: "map",
            config: { items: "input.xs", node: { kind: "transform", config: { expression: "item" } } },
          },
        ],
      },
      { xs: "nope" },
    );
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", error: { code: "map_items_not_array" } });
    expect((await api.get(`/v1/executions/${executionId}/nodes/nope/items`)).body.code).toBe("map_node_not_found");
  });
});

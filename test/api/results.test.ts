import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { explainListResults } from "../../src/db/results-repo";
import { client, createTenant, run, waitFor, type Client } from "../support/api";

const topics = ["tides", "volcanoes", "orbits", "glaciers"];
// One category per run: the pipeline must still return `questions` as an array. Each topic gets its own reward.
const topicInput = (topic: string, i: number) =>
  `${topic} [[json@categories={"categories":["basic"]}]] [[json@score-basic={"reward":${(i + 1) / 10}}]]`;

async function startRun(api: Client, wf: string, topic: string): Promise<string> {
  const res = await api.post(`/v1/workflows/${wf}/executions`, { input: { topic } });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe("results: what a workflow produces, as data", () => {
  it("question-pipeline's rewards are queryable per topic across 100 runs, paged, on an index, and exported", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = (await api.post("/v1/templates/question-pipeline/instantiate", {})).body.id as string;
    const ids: string[] = [];
    for (let r = 0; r < 25; r++)
      ids.push(...(await Promise.all(topics.map((t, i) => startRun(api, wf, topicInput(t, i))))));
    const done = await Promise.all(ids.map((id) => waitFor(api, id, undefined, 120_000)));
    expect(done.map((d) => d.status)).toEqual(ids.map(() => "succeeded"));
    expect(done[0].output.assemble.questions).toHaveLength(1);

    // One topic's rewards, newest first, a page at a time.
    const key = topicInput("orbits", 2);
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const q: URLSearchParams = new URLSearchParams({
        workflow: wf,
        name: "rewards",
        key,
        limit: "10",
        ...(cursor ? { cursor } : {}),
      });
      const page: { status: number; body: any } = await api.get(`/v1/results?${q}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen.map((r) => r.execution_id)).size).toBe(25);
    const times = seen.map((r) => Date.parse(r.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    for (const r of seen) {
      expect(r).toMatchObject({ workflow_id: wf, name: "rewards", key, node_id: "assemble" });
      expect(r.value.mean_reward).toBe(0.3);
      expect(r.value.questions).toEqual([expect.objectContaining({ category: "basic", reward: 0.3 })]);
    }
    // By name alone, across workflows; and with since.
    const byName = await api.get(`/v1/results?name=rewards&key=${encodeURIComponent(key)}&limit=100`);
    expect(byName.body.data).toHaveLength(25);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await api.get(`/v1/results?workflow=${wf}&since=${future}`)).body.data).toEqual([]);

    // Every filter the API accepts runs on one of the results indexes, never a scan of the table.
    const db = openDb(env.DB).db;
    for (const f of [
      { workflow_id: wf, name: "rewards", key },
      { workflow_id: wf, name: "rewards" },
      { workflow_id: wf },
      { name: "rewards", key },
      { name: "rewards", since: 0 },
    ]) {
      const plan = (await explainListResults(db, tenantId, f)).join(" | ");
      expect(plan, JSON.stringify(f)).toMatch(/USING (COVERING )?INDEX results_by_(workflow|name)/);
      expect(plan, JSON.stringify(f)).not.toMatch(/SCAN results/);
    }

    // Exports stream every result: NDJSON, and CSV with the value as JSON.
    const ndjson = await fetchRaw(token, `/v1/results/export?workflow=${wf}&name=rewards`);
    expect(ndjson.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = new TextDecoder()
      .decode(await ndjson.arrayBuffer())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(100);
    expect(new Set(lines.map((l) => l.key)).size).toBe(4);
    const csv = await fetchRaw(token, `/v1/results/export?workflow=${wf}&format=csv`);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const rows = (await csv.text()).trimEnd().split("\r\n");
    expect(rows[0]).toBe("created_at,workflow_id,name,key,execution_id,node_id,value");
    expect(rows).toHaveLength(101);
    expect(rows[1]).toMatch(/,assemble,"\{""topic"":/);

    // Erasing a run erases its result.
    expect((await api.del(`/v1/executions/${seen[0].execution_id}`)).status).toBe(204);
    const after = await api.get(`/v1/results?workflow=${wf}&name=rewards&key=${encodeURIComponent(key)}&limit=100`);
    expect(after.body.data).toHaveLength(24);
  }, 240_000);

  it("keys a result by the node's own output, and refuses a run whose key reads a missing value", async () => {
    const api = client((await createTenant()).token);
    const produce = (expression: string) => ({
      name: "orders",
      nodes: [
        {
          id: "order",
          kind: "transform",
          config: { expression },
          result: { name: "order", key: "{{ nodes.order.output.id }}" },
        },
      ],
    });
    const ok = await run(api, produce("{'id': 'o-17', 'total': 12.5}"));
    expect((await waitFor(api, ok.executionId)).status).toBe("succeeded");
    const listed = await api.get("/v1/results?name=order&key=o-17");
    expect(listed.body.data).toEqual([expect.objectContaining({ key: "o-17", value: { id: "o-17", total: 12.5 } })]);
    const bad = await run(api, produce("{'total': 3}"));
    const failed = await waitFor(api, bad.executionId);
    expect(failed.nodes[0]).toMatchObject({ status: "failed", error: { code: "template_undefined" } });
    expect(failed.nodes[0].error.message).toContain("result.key: {{ nodes.order.output.id }} has no value");
    expect((await api.get("/v1/results?name=order")).body.data).toHaveLength(1);
  });

  it("refuses at save a result name that is not a slug, a key that reads a node not upstream, a result on a map", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post("/v1/workflows", {
      name: "bad results",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "1" }, result: { name: "Rewards Per Topic" } },
        { id: "b", kind: "transform", config: { expression: "2" }, result: { name: "b", key: "{{ nodes.c.output }}" } },
        {
          id: "c",
          kind: "map",
          config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } },
          result: { name: "c" },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const errors = Object.fromEntries(res.body.errors.map((e: any) => [e.path, e.message]));
    expect(errors["nodes[0].result.name"]).toMatch(/slug/);
    const again = await api.post("/v1/workflows", {
      name: "bad results",
      nodes: [
        { id: "b", kind: "transform", config: { expression: "2" }, result: { name: "b", key: "{{ nodes.c.output }}" } },
        {
          id: "c",
          kind: "map",
          config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } },
          result: { name: "c" },
        },
      ],
    });
    const more = Object.fromEntries(again.body.errors.map((e: any) => [e.path, e.message]));
    expect(more["nodes[1].result"]).toContain("a map node's output cannot be a result");
    expect(more).not.toHaveProperty("nodes[0].result.key");
    const upstream = await api.post("/v1/workflows", {
      name: "bad key",
      nodes: [
        { id: "b", kind: "transform", config: { expression: "2" }, result: { name: "b", key: "{{ nodes.c.output }}" } },
        { id: "c", kind: "transform", config: { expression: "3" } },
      ],
    });
    expect(upstream.body.errors).toEqual([
      { path: "nodes[0].result.key", message: 'nodes.c is not upstream of "b"; add "c" to needs' },
    ]);
  });

  it("exports more results than one page, each once, in pages", async () => {
    const { tenantId, token } = await createTenant();
    const rows = Array.from({ length: 1234 }, (_, i) => ({ i, at: 1_700_000_000_000 + Math.floor(i / 3) }));
    const insert = env.DB.prepare(
      "insert into results (execution_id, node_id, tenant_id, workflow_id, name, key, value, created_at, seq) values (?, 'n', ?, 'wf_bulk', 'bulk', ?, ?, ?, 1)",
    );
    await env.DB.batch(
      rows.map((r) => insert.bind(`ex_${r.i}`, tenantId, `k${r.i % 7}`, JSON.stringify({ i: r.i }), r.at)),
    );
    const res = await fetchRaw(token, "/v1/results/export?name=bulk");
    const lines = new TextDecoder()
      .decode(await res.arrayBuffer())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1234);
    expect(new Set(lines.map((l) => l.value.i)).size).toBe(1234);
    const times = lines.map((l) => Date.parse(l.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("answers a query it cannot serve from an index with a 400 naming the parameter", async () => {
    const api = client((await createTenant()).token);
    for (const [q, path] of [
      ["", "name"],
      ["key=x", "name"],
      ["name=Not%20A%20Slug", "name"],
      ["name=a&cursor=%%%", "cursor"],
      ["name=a&since=yesterday", "since"],
      ["name=a&limit=1000", "limit"],
    ] as const) {
      const res = await api.get(`/v1/results?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    }
    expect((await api.get("/v1/results/export?name=a&format=xml")).status).toBe(400);
  });
});

async function fetchRaw(token: string, path: string): Promise<Response> {
  const { exports } = await import("cloudflare:workers");
  const res = await (exports as any).default.fetch(`http://edgeflow.test${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return res;
}

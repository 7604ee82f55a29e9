import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, projection, run, target, targetCalls, waitFor, type Client } from "../support/api";

const api = async () => client((await createTenant()).token);
const key = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;
const node = (view: any, id: string) => view.nodes.find((n: { node_id: string }) => n.node_id === id);
const modelCalls = async (k: string) =>
  ((await (await fetch(`${env.OPENAI_URL}/_calls/${encodeURIComponent(k)}`)).json()) as { calls: unknown[] }).calls
    .length;

async function events(c: Client, id: string): Promise<any[]> {
  return (await c.get(`/v1/executions/${id}/events?limit=1000`)).body.data;
}

async function fork(c: Client, id: string, body: unknown): Promise<string> {
  const res = await c.post(`/v1/executions/${id}/forks`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

const get = (k: string) => ({ kind: "http", config: { url: target(`/status/200/${k}`) } });

describe("forks (POST /v1/executions/:id/forks)", () => {
  it("forks a diamond at B with B's output patched: D runs once, C and B not at all, the source is untouched", async () => {
    const c = await api();
    const [kb, kc] = [key("fork-b"), key("fork-c")];
    const { executionId: source } = await run(c, {
      name: "diamond",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "{'n': 1}" } },
        { id: "b", needs: ["a"], ...get(kb) },
        { id: "c", needs: ["a"], ...get(kc) },
        {
          id: "d",
          kind: "transform",
          needs: ["b", "c"],
          config: { expression: "{'b': nodes.b.output.body, 'c': nodes.c.output.status}" },
        },
      ],
    });
    const before = await waitFor(c, source);
    expect(before.status).toBe("succeeded");
    const sourceEvents = await events(c, source);

    const res = await c.post(`/v1/executions/${source}/forks`, {
      from_node: "b",
      output_patch: { body: { status: 299, note: "what if" } },
      label: "b answered 299",
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ forked_from: source, fork_node: "b", effects: "mock", kept: 2, rerun: ["d"] });
    const forked = await waitFor(c, res.body.id);
    expect(forked.status).toBe("succeeded");
    expect(node(forked, "d").output).toEqual({ b: { status: 299, note: "what if" }, c: 200 });
    expect(node(forked, "c").output).toEqual(node(before, "c").output);
    expect([node(forked, "a").kept_from, node(forked, "c").kept_from]).toEqual([source, source]);
    expect([node(forked, "b").kept_from, node(forked, "d").kept_from]).toEqual([undefined, undefined]);
    expect(forked.fork).toEqual({
      from_execution_id: source,
      from_node: "b",
      effects: "mock",
      label: "b answered 299",
    });
    // C's and B's servers saw the source's one call each, and nothing from the fork.
    expect((await targetCalls(kb)).calls).toHaveLength(1);
    expect((await targetCalls(kc)).calls).toHaveLength(1);
    // The log says which nodes were kept, which patched, and that only D started.
    const log = await events(c, res.body.id);
    expect(log[0]).toMatchObject({ type: "execution.queued", data: { forked_from: source, fork_node: "b" } });
    const succeeded = Object.fromEntries(
      log.filter((e) => e.type === "node.succeeded").map((e) => [e.node_id, e.data]),
    );
    expect(succeeded.a.reused_from).toBe(source);
    expect(succeeded.c.reused_from).toBe(source);
    expect(succeeded.b.patched).toBe(true);
    expect(succeeded.d.reused_from).toBeUndefined();
    expect(log.filter((e) => e.type === "node.started").map((e) => e.node_id)).toEqual(["d"]);
    // The diff against the source: what the patch changed, and that nothing else did.
    const diff = (await c.get(`/v1/executions/${res.body.id}/diff?against=${source}`)).body;
    expect(Object.fromEntries(diff.nodes.map((n: any) => [n.node_id, n.status]))).toEqual({
      a: "unchanged",
      b: "changed",
      c: "unchanged",
      d: "changed",
    });
    expect(diff.nodes.find((n: any) => n.node_id === "b").changes).toEqual([
      { path: "$.body.status", before: 200, after: 299 },
      { path: "$.body.note", before: null, after: "what if" },
    ]);
    expect(diff.cost_usd).toEqual({ this: 0, against: 0, difference: 0 });
    expect((await c.get(`/v1/executions/${res.body.id}/diff?against=ex_nope`)).body).toMatchObject({
      status: 404,
      errors: [{ path: "against" }],
    });
    // The source is as it was.
    expect(await events(c, source)).toEqual(sourceEvents);
    expect((await c.get(`/v1/executions/${source}`)).body.nodes).toEqual(before.nodes);
  });

  it("forks a 57-node LLM chain at node 55: a patched output makes 2 model calls, an identical request reuses the answer, an edited prompt calls the model", async () => {
    const c = await api();
    const k = key("chain");
    const nodes = Array.from({ length: 57 }, (_, i) => ({
      id: `n${i + 1}`,
      kind: "llm",
      ...(i ? { needs: [`n${i}`] } : {}),
      config: {
        provider: "openai",
        model: "gpt-5-mini",
        max_tokens: 400,
        messages: [
          {
            role: "user",
            content:
              i === 0
                ? `[[key=${k}]] begin`
                : i === 54
                  ? `[[key=${k}]] ${i + 1} in {{ input.tone }} after {{ $substring(nodes.n${i}.output.text, 0, 60) }}`
                  : `[[key=${k}]] ${i + 1} after {{ $substring(nodes.n${i}.output.text, 0, 60) }}`,
          },
        ],
      },
    }));
    const { executionId: source } = await run(c, { name: "chain", nodes }, { tone: "plain" });
    const done = await waitFor(c, source, undefined, 60_000);
    expect(done.status).toBe("succeeded");
    expect(await modelCalls(k)).toBe(57);

    // n55's output patched: n56 and n57 run again, with new prompts.
    const patched = await fork(c, source, { from_node: "n55", output_patch: { text: "a different answer" } });
    const p = await waitFor(c, patched, undefined, 30_000);
    expect(p.status).toBe("succeeded");
    expect(await modelCalls(k)).toBe(57 + 2);
    expect(node(p, "n56").output.text).toContain("a different answer");
    // Two calls paid in the fork against 57 in the source; n55 changed by the patch, n56 and n57 by the new answers.
    const diff = (await c.get(`/v1/executions/${patched}/diff?against=${source}`)).body;
    expect(diff.llm_calls).toEqual({ this: 2, against: 57 });
    // gpt-5-mini is priced 10/20 USD per Mtok in the test pool; each call is 100 + 50 tokens: 0.002 USD.
    expect(diff.cost_usd.this).toBeCloseTo(0.004, 9);
    expect(diff.cost_usd.against).toBeCloseTo(0.114, 9);
    expect(diff.cost_usd.difference).toBeCloseTo(-0.11, 9);
    expect(diff.nodes.filter((n: any) => n.status === "changed").map((n: any) => n.node_id)).toEqual([
      "n55",
      "n56",
      "n57",
    ]);

    // Nothing changed: n55..n57 render byte-identical requests and take the recorded answers.
    const same = await fork(c, source, { from_node: "n55" });
    const s = await waitFor(c, same, undefined, 30_000);
    expect(s.status).toBe("succeeded");
    expect(await modelCalls(k)).toBe(59);
    expect(node(s, "n57").output).toEqual(node(done, "n57").output);
    const reused = (await events(c, same)).filter((e) => e.type === "node.succeeded" && e.data.reused_from === source);
    expect(reused).toHaveLength(57);

    // n55's prompt reads the input: a patched input changes it, and the model is asked n55, n56 and n57 again.
    const edited = await fork(c, source, { from_node: "n55", input_patch: { tone: "brief" } });
    const e = await waitFor(c, edited, undefined, 30_000);
    expect(e.status).toBe("succeeded");
    expect(await modelCalls(k)).toBe(59 + 3);
    expect(node(e, "n55").output.text).toContain("in brief");
    expect(e.input).toEqual({ tone: "brief" });
  });

  it("mocks side effects in a fork unless effects is allow: no request reaches the server", async () => {
    const c = await api();
    const k = key("fork-effect");
    const { executionId: source } = await run(
      c,
      {
        name: "order",
        nodes: [
          { id: "a", kind: "transform", config: { expression: "{'qty': input.qty}" } },
          {
            id: "order",
            kind: "http",
            needs: ["a"],
            config: { url: target(`/side-effect/${k}`), method: "POST", body: { qty: "{{ nodes.a.output.qty }}" } },
          },
          { id: "z", kind: "transform", needs: ["order"], config: { expression: "nodes.order.output.body.effect" } },
        ],
      },
      { qty: 1 },
    );
    expect((await waitFor(c, source)).status).toBe("succeeded");
    expect((await targetCalls(k)).calls).toHaveLength(1);

    const mocked = await fork(c, source, { from_node: "a", input_patch: { qty: 2 } });
    const m = await waitFor(c, mocked);
    expect(m.status).toBe("succeeded");
    expect((await targetCalls(k)).calls).toHaveLength(1);
    const order = (await events(c, mocked)).find((e) => e.type === "node.succeeded" && e.node_id === "order");
    expect(order.data).toMatchObject({ mocked: true, reused_from: source });
    expect(node(m, "a").output).toEqual({ qty: 2 });

    // The allow fork sent with an Idempotency-Key, and sent again by a client that lost the answer: one fork, one
    // order; the same key with another body is refused.
    const body = { from_node: "a", input_patch: { qty: 3 }, effects: "allow" };
    const asked = await c.post(`/v1/executions/${source}/forks`, body, { "idempotency-key": `${k}-allow` });
    expect(asked.status, JSON.stringify(asked.body)).toBe(201);
    const allowed = asked.body.id as string;
    const again = await c.post(`/v1/executions/${source}/forks`, body, { "idempotency-key": `${k}-allow` });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const { status: _, ...same } = asked.body;
    expect(again.body).toMatchObject(same);
    const other = await c.post(
      `/v1/executions/${source}/forks`,
      { ...body, input_patch: { qty: 4 } },
      { "idempotency-key": `${k}-allow` },
    );
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
    expect((await waitFor(c, allowed)).status).toBe("succeeded");
    const seen = await targetCalls(k);
    expect(seen.calls).toHaveLength(2);
    expect(seen.calls[1]?.idempotency_key).toBe(`${allowed}:order`);
    const forks = await c.get(`/v1/executions?metadata=forked_from:${source}`);
    expect(forks.body.data.map((e: { id: string }) => e.id).sort()).toEqual([mocked, allowed].sort());
  });

  it("runs a child workflow again in a mock fork when the child only reads, and mocks one that posts", async () => {
    const c = await api();
    const k = `fork-child-${crypto.randomUUID()}`;
    const reads = await c.post("/v1/workflows", {
      name: "reads",
      nodes: [{ id: "sum", kind: "transform", config: { expression: "input.qty * 10" } }],
    });
    const posts = await c.post("/v1/workflows", {
      name: "posts",
      nodes: [{ id: "p", kind: "http", config: { url: target(`/side-effect/${k}`), method: "POST", body: {} } }],
    });
    const { executionId: source } = await run(
      c,
      {
        name: "parent",
        nodes: [
          { id: "a", kind: "transform", config: { expression: "input.qty" } },
          {
            id: "price",
            kind: "workflow",
            needs: ["a"],
            config: { workflow_id: reads.body.id, input: { qty: "{{ nodes.a.output }}" } },
          },
          { id: "notify", kind: "workflow", needs: ["price"], config: { workflow_id: posts.body.id } },
        ],
      },
      { qty: 1 },
    );
    expect((await waitFor(c, source)).status).toBe("succeeded");
    expect((await targetCalls(k)).calls).toHaveLength(1);
    const forked = await fork(c, source, { from_node: "a", input_patch: { qty: 2 } });
    const f = await waitFor(c, forked);
    expect(f.status).toBe("succeeded");
    // The reading child ran again with the new input; the posting one was mocked with the source's answer.
    expect(node(f, "price").output.output).toEqual({ sum: 20 });
    expect(node(f, "price").child).not.toBeNull();
    const ended = (await events(c, forked)).filter((e) => e.type === "node.succeeded");
    expect(ended.find((e) => e.node_id === "price").data.mocked).toBeUndefined();
    expect(ended.find((e) => e.node_id === "notify").data).toMatchObject({ mocked: true, reused_from: source });
    expect((await targetCalls(k)).calls).toHaveLength(1);
  });

  it("100 forks of a 50-node run add history rows only for the nodes they ran", async () => {
    const c = await api();
    const nodes = Array.from({ length: 50 }, (_, i) => ({
      id: `s${i + 1}`,
      kind: "transform",
      ...(i ? { needs: [`s${i}`] } : {}),
      config: { expression: i ? `nodes.s${i}.output + 1` : "input.start" },
    }));
    const { executionId: source } = await run(c, { name: "fifty", nodes }, { start: 0 });
    expect((await waitFor(c, source)).output).toEqual({ s50: 49 });
    const forks: string[] = [];
    for (let i = 0; i < 100; i++) forks.push(await fork(c, source, { from_node: "s48", output_patch: i }));
    const rows: number[] = [];
    for (const id of forks) {
      const done = await waitFor(c, id);
      expect(done.output).toEqual({ s50: (forks.indexOf(id) as number) + 2 });
      rows.push((await projection(id))?.nodes.length ?? -1);
    }
    // s48 (patched), s49 and s50: 3 rows a fork, 300 in all, where 100 full copies would have written 5,000.
    expect(rows.every((n) => n === 3)).toBe(true);
    expect((await projection(source))?.nodes).toHaveLength(50);
  });

  it("refuses what it cannot fork with 422 and the path, and another tenant's execution with 404", async () => {
    const c = await api();
    const { executionId: source } = await run(c, {
      name: "judge",
      input_schema: { type: "object", properties: { n: { type: "integer" } } },
      nodes: [
        {
          id: "grade",
          kind: "llm",
          config: {
            provider: "openai",
            model: "gpt-4.1-mini",
            max_tokens: 200,
            response_format: "json",
            json_schema: { type: "object", properties: { score: { type: "integer" } }, required: ["score"] },
            messages: [{ role: "user", content: '[[json={"score": 3}]] grade it' }],
          },
        },
        { id: "never", kind: "transform", needs: ["grade"], when: "false", config: { expression: "1" } },
      ],
    });
    expect((await waitFor(c, source)).status).toBe("succeeded");
    const refused = async (body: unknown) => (await c.post(`/v1/executions/${source}/forks`, body)).body;

    expect(await refused({ from_node: "nope" })).toMatchObject({
      status: 422,
      code: "unknown_node",
      errors: [{ path: "from_node" }],
    });
    expect(await refused({ from_node: "grade", output_patch: { json: { score: "high" } } })).toMatchObject({
      status: 422,
      code: "output_patch_invalid",
      errors: [{ path: "output_patch.json.score" }],
    });
    expect(await refused({ from_node: "never", output_patch: { x: 1 } })).toMatchObject({
      status: 422,
      code: "fork_node_not_finished",
    });
    expect(await refused({ from_node: "grade", input_patch: { n: "two" } })).toMatchObject({
      status: 422,
      code: "invalid_input",
      errors: [{ path: "input.n" }],
    });
    expect(await refused({ from_node: "grade", effects: "sometimes" })).toMatchObject({ status: 400 });
    const other = await api();
    expect((await other.post(`/v1/executions/${source}/forks`, { from_node: "grade" })).status).toBe(404);
    // A valid patch is kept as the node's output, and nothing else was created by the refusals.
    const ok = await fork(c, source, { from_node: "grade", output_patch: { json: { score: 5 } } });
    expect(node(await waitFor(c, ok), "grade").output.json).toEqual({ score: 5 });
    const list = (await c.get("/v1/executions?limit=100")).body.data as { id: string }[];
    expect(list.map((x) => x.id).sort()).toEqual([source, ok].sort());
  });
});

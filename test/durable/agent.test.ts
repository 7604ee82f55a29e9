import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function modelCalls(server: "openai" | "anthropic", k: string) {
  const base = server === "openai" ? env.OPENAI_URL : env.ANTHROPIC_URL;
  return ((await (await fetch(`${base}/_calls/${encodeURIComponent(k)}`)).json()) as { calls: { body: any }[] }).calls;
}

async function tenantApi(): Promise<Client> {
  return client((await createTenant()).token);
}

const events = async (api: Client, id: string) =>
  (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];

/** A tool that POSTs to the target's side-effect recorder (deduped there by Idempotency-Key). */
const effectTool = (name: string, bucket: string, ms = 0) => ({
  name,
  description: `records ${name}`,
  input_schema: {
    type: "object",
    properties: { n: { type: "integer" } },
    required: ["n"],
    additionalProperties: false,
  },
  http: { method: "POST", url: target(`/side-effect/${bucket}?ms=${ms}`), body: { n: "{{ args.n }}" } },
});

const agentNode = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: "agent",
  kind: "agent",
  retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 100, jitter: false },
  config,
  ...extra,
});

describe("agent nodes", () => {
  it("loops model → tools → model until it answers, with the transcript as its output", async () => {
    const api = await tenantApi();
    const k = key("loop");
    const script = `lookup:{"n":1}&lookup:{"n":2}|double:{"n":21}|Answer from {results}`;
    const { executionId } = await run(
      api,
      {
        name: "agent loop",
        nodes: [
          agentNode({
            tier: "mid",
            system: "You use tools.",
            messages: [{ role: "user", content: `Find it [[key=${k}]] [[agent=${script}]]` }],
            tools: [
              effectTool("lookup", `${k}-lookup`),
              {
                name: "double",
                input_schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
                transform: "{ 'doubled': args.n * 2, 'topic': input.topic }",
              },
            ],
          }),
        ],
      },
      { topic: "tides" },
    );
    const done = await waitFor(api, executionId);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const out = done.nodes[0].output;
    expect(out.turns).toHaveLength(3);
    expect(out.tool_calls).toBe(3);
    expect(out.turns[0].tool_calls.map((c: any) => [c.name, c.input, c.status])).toEqual([
      ["lookup", { n: 1 }, "ok"],
      ["lookup", { n: 2 }, "ok"],
    ]);
    expect(out.turns[1].tool_calls[0].output).toEqual({ doubled: 42, topic: "tides" });
    // The model answered from what the tools returned.
    expect(out.text).toContain('"doubled":42');
    expect(out.text).toContain('"effect":2');
    expect(out.usage).toEqual({ input_tokens: 300, output_tokens: 30 + 30 + 40 });
    // Each tool call carries its own Idempotency-Key: the node's key and the step.
    const lookups = await targetCalls(`${k}-lookup`);
    expect(lookups.calls.map((c) => c.idempotency_key)).toEqual([
      `${executionId}:agent:t1.c0`,
      `${executionId}:agent:t1.c1`,
    ]);
    // The provider saw each tool result answer its call (its contract refuses anything else).
    const calls = await modelCalls("openai", k);
    expect(calls).toHaveLength(3);
    expect(calls[2]!.body.messages.filter((m: any) => m.role === "tool")).toHaveLength(3);
    expect(calls.map((c) => c.body.tools.map((t: any) => t.function.name))).toEqual([
      ["lookup", "double"],
      ["lookup", "double"],
      ["lookup", "double"],
    ]);
  });

  it("gives a call with bad arguments back to the model as a tool error, never to the tool; a model that keeps at it fails the node", async () => {
    const api = await tenantApi();
    const k = key("badargs");
    const script = `lookup:{"n":"seven"}|lookup:{"n":7}|Done: {results}`;
    const { executionId } = await run(api, {
      name: "bad args",
      nodes: [
        agentNode({
          tier: "strong",
          messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=${script}]]` }],
          tools: [effectTool("lookup", `${k}-lookup`)],
        }),
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const [first, second] = done.nodes[0].output.turns;
    expect(first.tool_calls[0]).toMatchObject({ status: "invalid", error: { code: "invalid_arguments" } });
    expect(first.tool_calls[0].error.message).toContain("args.n");
    expect(second.tool_calls[0]).toMatchObject({ status: "ok", output: { status: 200, body: { effect: 1 } } });
    expect((await targetCalls(`${k}-lookup`)).calls).toHaveLength(1);
    expect(done.nodes[0].output.text).toContain("invalid_arguments");

    const stubborn = key("stubborn");
    const again = await run(api, {
      name: "stubborn",
      nodes: [
        agentNode({
          tier: "mid",
          max_tool_errors: 1,
          messages: [
            { role: "user", content: `Go [[key=${stubborn}]] [[agent=nope:{}|lookup:{"n":"x"}|lookup:{"n":"y"}]]` },
          ],
          tools: [effectTool("lookup", `${stubborn}-lookup`)],
        }),
      ],
    });
    const failed = await waitFor(api, again.executionId);
    expect(failed.status).toBe("failed");
    expect(failed.nodes[0].error).toMatchObject({ code: "agent_tool_errors" });
    expect(failed.nodes[0].error.message).toContain("max_tool_errors 1");
    expect((await targetCalls(`${stubborn}-lookup`)).calls).toHaveLength(0);
    // The unknown tool was named to the model with the tools it has.
    const calls = await modelCalls("openai", stubborn);
    const told = JSON.stringify(calls[1]!.body.messages);
    expect(told).toContain("unknown_tool");
    expect(told).toContain("(tools: lookup)");
  });

  it("fails with agent_max_turns when the model is still calling tools, instead of answering something", async () => {
    const api = await tenantApi();
    const k = key("turns");
    const { executionId } = await run(api, {
      name: "max turns",
      nodes: [
        agentNode({
          tier: "mid",
          max_turns: 2,
          messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=lookup:{"n":1}]]` }],
          tools: [effectTool("lookup", `${k}-lookup`)],
        }),
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0].error).toMatchObject({ code: "agent_max_turns" });
    expect(await modelCalls("openai", k)).toHaveLength(2);
  });

  it("resumes a 5-tool run killed after tool 3 without sending tools 1–3 again or paying for their turns twice", async () => {
    const api = await tenantApi();
    const k = key("crash");
    const steps = [1, 2, 3, 4, 5].map((i) => `t${i}:{"n":${i}}`).join("|");
    const tools = [1, 2, 3, 4, 5].map((i) => effectTool(`t${i}`, `${k}-t${i}`, i === 4 ? 1500 : 0));
    const { executionId } = await run(api, {
      name: "five tools",
      nodes: [
        agentNode({
          tier: "strong",
          messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=${steps}|All five: {results}]]` }],
          tools,
        }),
      ],
    });
    // Tool 4 is slow: the object is killed while it is in flight, tools 1–3 done.
    for (let i = 0; i < 200 && (await targetCalls(`${k}-t4`)).calls.length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect((await targetCalls(`${k}-t3`)).calls).toHaveLength(1);
    await abortAllDurableObjects();
    await runDurableObjectAlarm(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    for (const i of [1, 2, 3, 5]) expect((await targetCalls(`${k}-t${i}`)).calls, `tool ${i}`).toHaveLength(1);
    // Tool 4 was cut off mid-call: sent again with the same key, so the tool server did it once.
    const four = await targetCalls(`${k}-t4`);
    expect(four.calls.length).toBeGreaterThanOrEqual(2);
    expect(new Set(four.calls.map((c) => c.idempotency_key))).toEqual(new Set([`${executionId}:agent:t4.c0`]));
    expect(Object.keys(four.effects)).toHaveLength(1);
    expect(four.calls.map((c) => c.attempt)).toEqual(["1", "2"]);
    // Six model turns (five calls and the answer), each paid once.
    expect(await modelCalls("anthropic", k)).toHaveLength(6);
    const out = done.nodes[0].output;
    expect(out.turns.map((t: any) => t.tool_calls.map((c: any) => c.status))).toEqual([
      ["ok"],
      ["ok"],
      ["ok"],
      ["ok"],
      ["ok"],
      [],
    ]);
    expect(done.nodes[0].attempts).toBe(1);
  });

  it("waits for an approval before a tool that requires one; a refusal goes back to the model", async () => {
    const api = await tenantApi();
    const k = key("approve");
    const refund = {
      ...effectTool("refund", `${k}-refund`),
      requires_approval: { timeout_ms: 60_000 },
    };
    const { executionId } = await run(api, {
      name: "approvals",
      nodes: [
        agentNode({
          tier: "mid",
          messages: [
            { role: "user", content: `Go [[key=${k}]] [[agent=refund:{"n":10}|refund:{"n":5}|Outcome: {results}]]` },
          ],
          tools: [refund],
        }),
      ],
    });
    await waitForNode(api, executionId, "agent", "waiting");
    const log = await events(api, executionId);
    const waiting = log.filter((e) => e.type === "node.waiting");
    expect(waiting[0].data).toMatchObject({
      event: "approve:agent:t1.c0",
      detail: { approval: { step: "t1.c0", tool: "refund", input: { n: 10 } } },
    });
    expect((await targetCalls(`${k}-refund`)).calls).toHaveLength(0);
    const denied = await api.post(`/v1/executions/${executionId}/events`, {
      name: "approve:agent:t1.c0",
      payload: { approved: false, by: "ana@example.com", reason: "too much" },
    });
    expect(denied.status).toBe(202);
    // The model asks again for less; this one is approved and runs.
    for (let i = 0; i < 200; i++) {
      const w = (await events(api, executionId)).filter((e) => e.type === "node.waiting");
      if (w.length === 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await api.post(`/v1/executions/${executionId}/events`, {
      name: "approve:agent:t2.c0",
      payload: { approved: true, by: "ana@example.com" },
    });
    const done = await waitFor(api, executionId);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const turns = done.nodes[0].output.turns;
    expect(turns[0].tool_calls[0]).toMatchObject({ status: "denied", reason: "too much", by: "ana@example.com" });
    expect(turns[1].tool_calls[0]).toMatchObject({ status: "ok", output: { body: { body: { n: 5 } } } });
    const calls = await targetCalls(`${k}-refund`);
    expect(calls.calls).toHaveLength(1);
    // Two waits, two resumes, one attempt: the loop went on where it was.
    expect(done.nodes[0].attempts).toBe(1);
    expect(
      (await events(api, executionId)).filter((e) => e.type === "node.progress" && e.data.reason === "resumed"),
    ).toHaveLength(2);
    expect(await modelCalls("openai", k)).toHaveLength(3);
  });

  it("runs a workflow tool as a child execution and waits for it; a tool that keeps failing, an oversized result, a secret and a timed-out approval all reach the model as what they are", async () => {
    const api = await tenantApi();
    const k = key("kinds");
    const child = await api.post("/v1/workflows", {
      name: "price",
      nodes: [{ id: "price", kind: "transform", config: { expression: "{ 'sku': input.sku, 'usd': 12.5 }" } }],
    });
    expect(child.status).toBe(201);
    expect((await api.put("/v1/secrets/SHOP_TOKEN", { value: "shop-token-4711" })).status).toBe(200);
    const script = [
      `price:{"sku":"box-10"}`,
      `flaky:{}&big:{}`,
      `whoami:{}`,
      `approve_me:{}`,
      "Summary: {results}",
    ].join("|");
    const { executionId } = await run(api, {
      name: "tool kinds",
      nodes: [
        agentNode({
          tier: "mid",
          messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=${script}]]` }],
          tools: [
            {
              name: "price",
              input_schema: { type: "object", properties: { sku: { type: "string" } }, required: ["sku"] },
              workflow: { workflow_id: child.body.id, input: { sku: "{{ args.sku }}" } },
            },
            {
              name: "flaky",
              http: { url: target(`/flaky/${k}-flaky?fail=5&status=503`) },
              retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
            },
            { name: "big", http: { url: target("/big/200") } },
            {
              name: "whoami",
              http: { url: target("/echo/who"), headers: { authorization: "Bearer {{ secrets.SHOP_TOKEN }}" } },
            },
            { name: "approve_me", transform: "'approved'", requires_approval: { timeout_ms: 200 } },
          ],
        }),
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const calls = done.nodes[0].output.turns.flatMap((t: any) => t.tool_calls);
    const [price, flaky, big, whoami, approval] = calls;
    expect(price).toMatchObject({ status: "ok", output: { output: { price: { sku: "box-10", usd: 12.5 } } } });
    const childId = price.output.execution_id;
    const childRun = await api.get(`/v1/executions/${childId}`);
    expect(childRun.body).toMatchObject({
      status: "succeeded",
      parent: { execution_id: executionId, node_id: "agent" },
    });
    expect(flaky).toMatchObject({ status: "error", attempts: 2, error: { code: "http_503" } });
    expect((await targetCalls(`${k}-flaky`)).calls.map((c) => c.attempt)).toEqual(["1", "2"]);
    expect(big).toMatchObject({ status: "error", error: { code: "tool_result_too_large" } });
    // The secret reached the tool and nowhere else: the echo of it is redacted in the transcript.
    expect(whoami.status).toBe("ok");
    expect(whoami.output.body.headers.authorization).toBe("Bearer [redacted]");
    expect(JSON.stringify(done)).not.toContain("shop-token-4711");
    expect(approval).toMatchObject({ status: "denied", reason: "no approval came before the timeout" });
    const text = done.nodes[0].output.text;
    expect(text).toContain("http_503");
    expect(text).toContain("tool_result_too_large");
    expect(done.nodes[0].attempts).toBe(1);
  });

  it("refuses at save an agent whose tools are not what they say, and a map item's agent that would wait", async () => {
    const api = await tenantApi();
    const bad = await api.post("/v1/workflows", {
      name: "bad agent",
      nodes: [
        agentNode({
          tier: "mid",
          messages: [{ role: "user", content: "hi" }],
          tools: [
            { name: "two kinds", transform: "1", http: { url: "https://x.example" } },
            { name: "bad_http", http: { method: "FETCH", url: "https://x.example" } },
            { name: "bad_expr", transform: "1 +" },
            { name: "not_object", input_schema: { type: "string" }, transform: "1" },
          ],
        }),
      ],
    });
    expect(bad.status, JSON.stringify(bad.body)).toBe(400);
    const paths = bad.body.errors.map((e: any) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(["nodes[0].config.tools[0].name", "nodes[0].config.tools[0]", "nodes[0].config.tools[3]"]),
    );
    const fixed = await api.post("/v1/workflows", {
      name: "bad agent 2",
      nodes: [
        agentNode({
          tier: "mid",
          messages: [{ role: "user", content: "hi" }],
          tools: [
            { name: "bad_http", http: { method: "FETCH", url: "https://x.example" } },
            { name: "bad_expr", transform: "1 +" },
          ],
        }),
      ],
    });
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(400);
    expect(fixed.body.errors.map((e: any) => e.path)).toEqual([
      "nodes[0].config.tools[0].http.method",
      "nodes[0].config.tools[1].transform",
    ]);
    const inMap = await api.post("/v1/workflows", {
      name: "agent per item",
      nodes: [
        {
          id: "each",
          kind: "map",
          config: {
            items: "input.tickets",
            node: {
              kind: "agent",
              config: {
                tier: "mid",
                messages: [{ role: "user", content: "{{ item }}" }],
                tools: [{ name: "refund", transform: "1", requires_approval: true }],
              },
            },
          },
        },
      ],
    });
    expect(inMap.status, JSON.stringify(inMap.body)).toBe(400);
    expect(inMap.body.errors[0]).toMatchObject({ path: "nodes[0].config.node.config.tools[0]" });
    expect(inMap.body.errors[0].message).toContain("cannot wait");
  });

  it("fails the node when an approval's payload decides nothing, and refuses an approval for a step that is not waiting", async () => {
    const api = await tenantApi();
    const k = key("badapproval");
    const { executionId } = await run(api, {
      name: "bad approval",
      nodes: [
        agentNode({
          tier: "mid",
          messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=act:{}|done]]` }],
          tools: [{ name: "act", transform: "'acted'", requires_approval: true }],
        }),
      ],
    });
    await waitForNode(api, executionId, "agent", "waiting");
    const early = await api.post(`/v1/executions/${executionId}/events`, { name: "approve:agent:t2.c0", payload: {} });
    expect(early.status).toBe(422);
    expect(early.body).toMatchObject({ code: "unknown_event", waits_for: ["approve:agent:t1.c0"] });
    await api.post(`/v1/executions/${executionId}/events`, { name: "approve:agent:t1.c0", payload: { ok: "sure" } });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0].error).toMatchObject({ code: "invalid_approval" });
    expect(done.nodes[0].error.message).toContain('{"approved": true | false');
  });

  it("waits out a full provider window mid-loop and carries on from its journal: no tool sent twice, no turn paid twice, one Idempotency-Key", async () => {
    const api = await tenantApi();
    const k = key("deferred");
    // The pool meters openai:gpt-4.1-nano-2025-04-14 at 1,500 tokens a 4 s window (vitest.config.ts), 1,200 of it
    // for the default lane. A turn counts its prompt (tools included, ~170 tokens here) plus max_tokens 350: the
    // first two turns fit in one window, the third waits (deferred) until the first has left it.
    const { executionId } = await run(api, {
      name: "agent past a full window",
      nodes: [
        agentNode(
          {
            provider: "openai",
            model: "gpt-4.1-nano-2025-04-14",
            max_tokens: 350,
            messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=t1:{"n":1}|t2:{"n":2}|Done: {results}]]` }],
            tools: [effectTool("t1", `${k}-t1`), effectTool("t2", `${k}-t2`)],
          },
          { retry: { max_attempts: 1 } },
        ),
      ],
    });
    // Were each deferral a new try, the run would start over after every wait and never settle: say what the tool saw.
    const done = await waitFor(api, executionId, undefined, 20_000).catch(async (e) => {
      throw new Error(`${e}: ${JSON.stringify((await targetCalls(`${k}-t1`)).calls.map((c) => c.idempotency_key))}`);
    });
    expect(done.status, JSON.stringify(done.nodes[0].error)).toBe("succeeded");
    const deferred = (await events(api, executionId)).filter((e) => e.type === "node.retrying");
    expect(deferred.map((e) => e.data.error.code)).toContain("provider_window_full");
    // Each tool once (t1 in turn 1, t2 in turn 2), under the node's own key: a deferral is no new try, so it keeps
    // the key, and with it the journal of the turns and tool results before it.
    for (const t of ["t1", "t2"]) {
      const sent = await targetCalls(`${k}-${t}`);
      expect(
        sent.calls.map((c) => c.idempotency_key),
        t,
      ).toEqual([`${executionId}:agent:${t}.c0`]);
      expect(Object.keys(sent.effects), t).toHaveLength(1);
    }
    // Three model turns, each paid once, the last after the wait.
    const calls = await modelCalls("openai", k);
    expect(calls.map((c: any) => c.headers["idempotency-key"])).toEqual([
      `${executionId}:agent:turn1`,
      `${executionId}:agent:turn2`,
      `${executionId}:agent:turn3`,
    ]);
    expect(done.nodes[0].output.turns).toHaveLength(3);
  }, 40_000);

  it("reserves each model turn against the tenant's budget: a turn that would pass it fails the node, the turns before it paid", async () => {
    const api = await tenantApi();
    const k = key("budget");
    // gpt-5-mini at $10 / $20 per million tokens: a turn with max_tokens 1000 reserves about $0.0201 and costs $0.0016
    // (100 in, 30 out). The first turn fits in $0.021; the second, with the first's cost spent, does not.
    await api.put("/v1/budget", { monthly_usd: 0.021 });
    const { executionId } = await run(api, {
      name: "budgeted agent",
      nodes: [
        agentNode(
          {
            tier: "mid",
            max_tokens: 1000,
            messages: [{ role: "user", content: `Go [[key=${k}]] [[agent=lookup:{"n":1}|Done]]` }],
            tools: [effectTool("lookup", `${k}-lookup`)],
          },
          { retry: { max_attempts: 1 } },
        ),
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0].error).toMatchObject({ code: "BUDGET_EXCEEDED" });
    expect(await modelCalls("openai", k)).toHaveLength(1);
    expect((await targetCalls(`${k}-lookup`)).calls).toHaveLength(1);
    expect((await api.get("/v1/budget")).body.spent_usd).toBeCloseTo(0.0016, 10);
  });
});

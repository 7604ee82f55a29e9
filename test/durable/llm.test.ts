import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor, type Client } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
const fast = { max_attempts: 3, initial_delay_ms: 10, backoff_coefficient: 2, max_delay_ms: 100, jitter: false };
const llm = (id: string, tier: string, content: string, extra: Record<string, unknown> = {}) => ({
  id,
  kind: "llm",
  retry: fast,
  config: { tier, messages: [{ role: "user", content }] },
  ...extra,
});

async function calls(server: "openai" | "anthropic", k: string) {
  const base = server === "openai" ? env.OPENAI_URL : env.ANTHROPIC_URL;
  return (
    (await (await fetch(`${base}/_calls/${encodeURIComponent(k)}`)).json()) as {
      calls: { headers: Record<string, string>; body: any }[];
    }
  ).calls;
}

async function tenantApi(): Promise<Client> {
  return client((await createTenant()).token);
}

const events = async (api: Client, id: string) =>
  (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];

describe("llm nodes", () => {
  it("runs a three-step pipeline over all three tiers with usage, cost and per-node request ids", async () => {
    const api = await tenantApi();
    const k = key("pipe");
    const { executionId, workflowId } = await run(
      api,
      {
        name: "three tiers",
        nodes: [
          llm("ideas", "weak", `List ideas about {{ input.topic }} [[key=${k}-w]] [[cost=0.25]]`),
          { ...llm("draft", "mid", `Draft from: {{ nodes.ideas.output.text }} [[key=${k}-m]]`), needs: ["ideas"] },
          {
            ...llm("review", "strong", `Review: {{ nodes.draft.output.text }} [[key=${k}-s]]`),
            needs: ["draft"],
            config: {
              tier: "strong",
              system: "You are strict.",
              messages: [{ role: "user", content: `Review: {{ nodes.draft.output.text }} [[key=${k}-s]]` }],
              max_tokens: 300,
              temperature: 0.2,
            },
          },
        ],
      },
      { topic: "tides" },
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const [ideas, draft, review] = done.nodes.map((x: any) => x.output);
    expect(ideas).toMatchObject({
      provider: "openrouter",
      model: "openai/gpt-4o-mini",
      usage: { input_tokens: 100, output_tokens: 50 },
      cost_usd: 0.25,
      cost_source: "provider",
    });
    expect(ideas.text).toBe("echo: List ideas about tides");
    expect(draft).toMatchObject({
      provider: "openai",
      model: "gpt-5-mini",
      cost_usd: 0.002,
      cost_source: "price_table",
    });
    expect(draft.text).toBe("echo: Draft from: echo: List ideas about tides");
    expect(review).toMatchObject({ provider: "anthropic", model: "claude-sonnet-4-5", cost_source: "price_table" });
    expect(review.cost_usd).toBeCloseTo(0.006, 10);
    expect(typeof review.latency_ms).toBe("number");

    const [strongCall] = await calls("anthropic", `${k}-s`);
    expect(strongCall!.body).toMatchObject({
      model: "claude-sonnet-4-5",
      system: [{ type: "text", text: "You are strict." }],
      max_tokens: 300,
      temperature: 0.2,
    });
    expect(strongCall!.headers["idempotency-key"]).toBe(`${executionId}:review`);
    expect(strongCall!.headers["x-api-key"]).toBe("ak-local-test");
    expect((await calls("openai", `${k}-m`))[0]!.headers.authorization).toBe("Bearer sk-local-test");

    const report = (await api.get("/v1/usage")).body;
    const rows = report.data.filter((r: any) => r.workflow_id === workflowId);
    expect(rows.map((r: any) => [r.provider, r.model, r.calls])).toEqual([
      ["openrouter", "openai/gpt-4o-mini", 1],
      ["anthropic", "claude-sonnet-4-5", 1],
      ["openai", "gpt-5-mini", 1],
    ]);
    expect(report.total_usd).toBeCloseTo(0.258, 10);
    expect((await api.get("/v1/usage?month=2020-13")).status).toBe(400);
  });

  it("asks again inside the attempt when an answer is not the JSON asked for, then retries, counting every paid call", async () => {
    const api = await tenantApi();
    const k = key("json");
    const schema = { type: "object", required: ["score"], properties: { score: { type: "number" } } };
    const { executionId, workflowId } = await run(api, {
      name: "json",
      nodes: [
        {
          ...llm("score", "mid", `[[key=${k}]] [[badjson=1]] [[json={"score": 7}]]`),
          config: {
            tier: "mid",
            response_format: "json",
            json_schema: schema,
            messages: [{ role: "user", content: `[[key=${k}]] [[badjson=1]] [[json={"score": 7}]]` }],
          },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    // The second call, in the same attempt, shows the model what was wrong; no retry of the node was needed.
    expect(done.nodes[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(done.nodes[0].output).toMatchObject({ json: { score: 7 }, repaired: true, calls: 2 });
    expect((await events(api, executionId)).some((e) => e.type === "node.retrying")).toBe(false);
    const [first, second] = await calls("openai", k);
    expect(second!.body.messages.slice(-2)).toEqual([
      { role: "assistant", content: "this is {not json" },
      {
        role: "user",
        content: expect.stringMatching(/^Your previous answer could not be used: the answer holds no JSON value/),
      },
    ]);
    // gpt-5-mini is a reasoning model: max_completion_tokens, never max_tokens (which it refuses).
    expect(first!.body).toMatchObject({ model: "gpt-5-mini", max_completion_tokens: 2048 });
    expect(first!.body.max_tokens).toBeUndefined();
    const [row] = (await api.get("/v1/usage")).body.data.filter((r: any) => r.workflow_id === workflowId);
    expect(row.calls).toBe(2);
    expect(row.cost_usd).toBeCloseTo(0.004, 10);

    const k2 = key("schema");
    const wrong = await run(api, {
      name: "schema",
      nodes: [
        {
          ...llm("score", "mid", "x"),
          retry: { ...fast, max_attempts: 2 },
          config: {
            tier: "mid",
            response_format: "json",
            json_schema: schema,
            messages: [{ role: "user", content: `[[key=${k2}]] [[json={"score": "high"}]]` }],
          },
        },
      ],
    });
    const failed = await waitFor(api, wrong.executionId);
    expect(failed.nodes[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "invalid_json_response" } });
    expect(failed.nodes[0].error.message).toMatch(
      /^the model's answer is not the JSON asked for, twice in this attempt: the JSON does not match json_schema: #\/score: /,
    );
    // Two attempts, each an answer and one repair turn: four paid calls.
    expect(await calls("openai", k2)).toHaveLength(4);
  });

  it("retries 5xx and honours Retry-After on 429; 400 is fatal with the provider's message", async () => {
    const api = await tenantApi();
    const k = key("retry");
    const { executionId } = await run(api, {
      name: "flaky provider",
      nodes: [
        llm("five", "mid", `[[key=${k}-5]] [[fail=2:500]]`),
        llm("rate", "strong", `[[key=${k}-4]] [[fail=1:429:1]]`),
        { ...llm("bad", "mid", `[[key=${k}-b]] [[status=400]]`), continue_on_failure: true },
      ],
    });
    const done = await waitFor(api, executionId);
    const byId = Object.fromEntries(done.nodes.map((x: any) => [x.node_id, x]));
    expect(byId.five).toMatchObject({ status: "succeeded", attempts: 3 });
    expect(byId.rate).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(byId.bad).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "provider_400", message: "openai:gpt-5-mini HTTP 400: forced status 400" },
    });
    const rateRetry = (await events(api, executionId)).find((e) => e.type === "node.retrying" && e.node_id === "rate");
    expect(rateRetry.data.delay_ms).toBe(1000);
    expect((await calls("openai", `${k}-5`)).map((c) => c.headers["idempotency-key"])).toEqual(
      [1, 2, 3].map(() => `${executionId}:five`),
    );
    expect((await calls("openai", `${k}-5`)).map((c) => c.headers["edgeflow-attempt"])).toEqual(["1", "2", "3"]);
    expect(await calls("openai", `${k}-b`)).toHaveLength(1);
  });

  it("aborts a slow provider at the attempt timeout", async () => {
    const api = await tenantApi();
    const k = key("slow");
    const { executionId } = await run(api, {
      name: "slow",
      nodes: [
        { ...llm("s", "mid", `[[key=${k}]] [[slow=3000]]`), timeout_ms: 300, retry: { ...fast, max_attempts: 2 } },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "timeout" } });
  });

  it("enforces the monthly budget: 0 allows no call, and a call whose worst case would pass it is refused", async () => {
    const api = await tenantApi();
    expect((await api.put("/v1/budget", { monthly_usd: 0 })).body).toEqual({ monthly_usd: 0 });
    const k = key("budget0");
    const zero = await run(api, { name: "zero", nodes: [llm("a", "mid", `[[key=${k}]]`)] });
    const blocked = await waitFor(api, zero.executionId);
    expect(blocked.nodes[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "BUDGET_EXCEEDED" } });
    expect(await calls("openai", k)).toHaveLength(0);

    // Each mid-tier call costs $0.002 at the test prices and may cost up to about $0.0011 (its prompt and 50 tokens):
    // the first is reserved and made; the second, reserved against $0.002 spent, would pass $0.003 and is refused.
    await api.put("/v1/budget", { monthly_usd: 0.003 });
    const k2 = key("budget");
    const capped = (id: string, text: string) => ({
      ...llm(id, "mid", text),
      config: { tier: "mid", max_tokens: 50, messages: [{ role: "user", content: text }] },
    });
    const chain = await run(api, {
      name: "chain",
      nodes: [
        capped("one", `[[key=${k2}]] 1`),
        { ...capped("two", `[[key=${k2}]] 2`), needs: ["one"] },
        { ...capped("three", `[[key=${k2}]] 3`), needs: ["two"] },
      ],
    });
    const done = await waitFor(api, chain.executionId);
    expect(done.nodes.map((x: any) => x.status)).toEqual(["succeeded", "failed", "skipped"]);
    expect(done.nodes[1].error.code).toBe("BUDGET_EXCEEDED");
    expect(done.nodes[1].error.message).toMatch(
      /^this call may cost up to \$0\.0011\d+; with \$0\.002000 spent and \$0\.000000 reserved by calls under way, that passes the monthly budget of \$0\.003$/,
    );
    expect(await calls("openai", k2)).toHaveLength(1);
    expect((await api.get("/v1/budget")).body).toMatchObject({ monthly_usd: 0.003, spent_usd: 0.002 });
    expect(done.usage).toEqual({ llm_calls: 1, input_tokens: 100, output_tokens: 50, cost_usd: 0.002 });
    expect((await api.put("/v1/budget", { monthly_usd: null })).body).toEqual({ monthly_usd: null });
    expect((await api.put("/v1/budget", { monthly_usd: -1 })).status).toBe(400);
  });

  it("fails clearly when a provider is not configured, and validates llm configs up front", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "groq",
      nodes: [
        {
          id: "g",
          kind: "llm",
          config: { provider: "groq", model: "llama", messages: [{ role: "user", content: "hi" }] },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({
      attempts: 1,
      error: {
        code: "provider_not_configured",
        message: 'provider "groq" has no API key: set the secret GROQ_API_KEY',
      },
    });
    const bad = await api.post("/v1/workflows", {
      name: "bad",
      nodes: [{ id: "x", kind: "llm", config: { tier: "mid", provider: "openai", messages: [] } }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path)).toContain("nodes[0].config.messages");
  });

  it("calls Workers AI through the AI binding", async () => {
    const api = await tenantApi();
    const { executionId } = await run(
      api,
      {
        name: "workers ai",
        nodes: [
          {
            id: "w",
            kind: "llm",
            config: {
              provider: "workers-ai",
              model: "@cf/meta/llama-3.1-8b-instruct",
              system: "Be brief.",
              messages: [{ role: "user", content: "hello {{ input.who }}" }],
            },
          },
        ],
      },
      { who: "edge" },
    );
    const done = await waitFor(api, executionId);
    expect(done.nodes[0].output).toMatchObject({
      text: "workers-ai @cf/meta/llama-3.1-8b-instruct: hello edge",
      provider: "workers-ai",
      model: "@cf/meta/llama-3.1-8b-instruct",
      usage: { input_tokens: 10, output_tokens: 5 },
      cost_usd: 0,
      cost_source: "unknown",
    });
  });

  it("lists the tiers and tests each configured one", async () => {
    const api = await tenantApi();
    const listed = (await api.get("/v1/models")).body.data;
    expect(listed.map((t: any) => [t.tier, t.provider, t.model, t.configured, t.breaker])).toEqual([
      ["strong", "anthropic", "claude-sonnet-4-5", true, "closed"],
      ["mid", "openai", "gpt-5-mini", true, "closed"],
      ["weak", "openrouter", "openai/gpt-4o-mini", true, "closed"],
    ]);
    const tested = (await api.post("/v1/models/test")).body.data;
    expect(tested.map((t: any) => [t.tier, t.ok, t.error])).toEqual([
      ["strong", true, null],
      ["mid", true, null],
      ["weak", true, null],
    ]);
    expect(tested.every((t: any) => typeof t.latency_ms === "number")).toBe(true);

    // Only the probe's call fails: another test file may call the same server meanwhile.
    const probe = "Reply with the single word OK.";
    await fetch(`${env.ANTHROPIC_URL}/_fail-next`, {
      method: "POST",
      body: JSON.stringify({ count: 1, status: 503, match: probe }),
    });
    const degraded = await api.post("/v1/models/test");
    expect(degraded.status).toBe(200);
    expect(degraded.body.data.map((t: any) => [t.tier, t.ok])).toEqual([
      ["strong", false],
      ["mid", true],
      ["weak", true],
    ]);
    expect(degraded.body.data[0].error).toBe("anthropic:claude-sonnet-4-5 HTTP 503: the server was told to fail");
  });
});

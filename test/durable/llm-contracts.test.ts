// Each provider's contract, kept by the local servers as the real APIs keep it: what a node sends to current
// models (reasoning models, output limits, native structured output, SigV4) and what it makes of real answers.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { callModel } from "../../src/nodes/llm/call";
import { startExecution } from "../../src/services/start";
import { resolveTarget } from "../../src/nodes/llm/resolve";
import { client, createTenant, run, waitFor } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
const fast = { max_attempts: 2, initial_delay_ms: 10, backoff_coefficient: 2, max_delay_ms: 100, jitter: false };
const servers = {
  openai: env.OPENAI_URL,
  anthropic: env.ANTHROPIC_URL,
  google: env.GOOGLE_URL,
  bedrock: env.BEDROCK_URL,
};

async function calls(server: keyof typeof servers, k: string) {
  const res = await fetch(`${servers[server]}/_calls/${encodeURIComponent(k)}`);
  return ((await res.json()) as { calls: { headers: Record<string, string>; body: any }[] }).calls;
}

async function runOne(config: Record<string, unknown>) {
  const api = client((await createTenant()).token);
  const { executionId } = await run(api, { name: "llm", nodes: [{ id: "ask", kind: "llm", retry: fast, config }] });
  return (await waitFor(api, executionId)).nodes[0];
}

const schema = {
  type: "object",
  required: ["title", "tags"],
  properties: { title: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
};
const answer = '{"title": "Spring tides", "tags": ["moon", "sea"]}';

describe("reasoning models (gpt-5 family)", () => {
  it("get max_completion_tokens and no temperature, and the output says what was dropped", async () => {
    const k = key("reasoning");
    const node = await runOne({
      provider: "openai",
      model: "gpt-5-mini",
      max_tokens: 32_000,
      temperature: 0.2,
      messages: [{ role: "user", content: `[[key=${k}]] Say hi.` }],
    });
    expect(node.status).toBe("succeeded");
    const [sent] = await calls("openai", k);
    expect(sent!.body).toMatchObject({ model: "gpt-5-mini", max_completion_tokens: 32_000 });
    expect(sent!.body.max_tokens).toBeUndefined();
    expect(sent!.body.temperature).toBeUndefined();
    expect(node.output.warnings.join("\n")).toMatch(/temperature/);
  });
});

describe("output limits", () => {
  it("clamp max_tokens to the model's published limit, with a warning in the output", async () => {
    const k = key("clamp");
    // gpt-4o-mini answers at most 16,384 tokens; the server refuses more, as OpenAI does.
    const node = await runOne({
      tier: "weak",
      max_tokens: 32_000,
      messages: [{ role: "user", content: `[[key=${k}]] Write the report.` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.output.max_tokens).toBe(16_384);
    expect(node.output.warnings).toContain(
      "max_tokens 32000 is above openrouter:openai/gpt-4o-mini's output limit of 16384: clamped to 16384",
    );
    expect((await calls("openai", k))[0]!.body.max_tokens).toBe(16_384);
  });

  it("refuse at save a fixed model the layer cannot place, or a max_tokens above its limit, naming the limit", async () => {
    const api = client((await createTenant()).token);
    const save = (config: Record<string, unknown>) =>
      api.post("/v1/workflows", {
        name: "fixed model",
        nodes: [{ id: "ask", kind: "llm", config: { messages: [{ role: "user", content: "hi" }], ...config } }],
      });
    const unknown = await save({ provider: "openai", model: "gpt-9-turbo" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0]).toMatchObject({
      path: "nodes[0].config.model",
      message: expect.stringContaining("MODEL_OUTPUT_LIMITS"),
    });
    const tooMany = await save({ provider: "openai", model: "gpt-4o", max_tokens: 32_000 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([
      {
        path: "nodes[0].config.max_tokens",
        message:
          'max_tokens 32000 is above openai:gpt-4o\'s output limit of 16384: set at most 16384 (on_truncation "continue" goes past it in several calls)',
      },
    ]);
    const badFallback = await save({ tier: "mid", fallback: ["strong", "anthropic:claude-9"] });
    expect(badFallback.body.errors[0]).toMatchObject({ path: "nodes[0].config.fallback[1]" });
    // Nothing was half-created: the tenant has no workflow.
    expect((await api.get("/v1/workflows")).body.data).toEqual([]);
    expect((await save({ provider: "openai", model: "gpt-4o", max_tokens: 16_384 })).status).toBe(201);
  });

  it("fail a provider's 400 at once with the provider's message naming the parameter and model", async () => {
    const k = key("refused");
    // A 400 is the request's fault: no retry can fix it.
    const node = await runOne({
      provider: "openai",
      model: "gpt-4o",
      max_tokens: 100,
      messages: [{ role: "user", content: `[[key=${k}]] [[status=400]] hi` }],
    });
    expect(node).toMatchObject({ status: "failed", attempts: 1, error: { code: "provider_400" } });
    expect(node.error.message).toMatch(/^openai:gpt-4o HTTP 400: /);
    expect(await calls("openai", k)).toHaveLength(1);
  });
});

describe("structured output", () => {
  it("uses OpenAI's strict JSON schema when the schema allows it, and json_schema without strict otherwise", async () => {
    const k = key("strict");
    const closed = { ...schema, additionalProperties: false };
    const node = await runOne({
      tier: "mid",
      response_format: "json",
      json_schema: closed,
      messages: [{ role: "user", content: `[[key=${k}]] [[json=${answer}]] [[prose=1]] Title it.` }],
    });
    expect(node.output.json).toEqual({ title: "Spring tides", tags: ["moon", "sea"] });
    const [sent] = await calls("openai", k);
    expect(sent!.body.response_format).toMatchObject({ type: "json_schema", json_schema: { strict: true } });

    const k2 = key("open");
    await runOne({
      tier: "mid",
      response_format: "json",
      json_schema: schema,
      messages: [{ role: "user", content: `[[key=${k2}]] [[json=${answer}]] Title it.` }],
    });
    expect((await calls("openai", k2))[0]!.body.response_format.json_schema.strict).toBe(false);
  });

  it("takes the JSON out of prose and fences without a second paid call", async () => {
    const k = key("prose");
    const node = await runOne({
      tier: "mid",
      response_format: "json",
      json_schema: schema,
      messages: [{ role: "user", content: `[[key=${k}]] [[json=${answer}]] [[prose=1]] Title it.` }],
    });
    expect(node).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(node.output.json).toEqual({ title: "Spring tides", tags: ["moon", "sea"] });
    expect(node.output.calls).toBeUndefined();
    expect(await calls("openai", k)).toHaveLength(1);
  });

  it("gets Anthropic's JSON through its structured output, and Gemini's through its response schema", async () => {
    const k = key("claude-json");
    const node = await runOne({
      tier: "strong",
      response_format: "json",
      json_schema: schema,
      messages: [{ role: "user", content: `[[key=${k}]] [[json=${answer}]] [[prose=1]] Title it.` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.output.json).toEqual({ title: "Spring tides", tags: ["moon", "sea"] });
    const [sent] = await calls("anthropic", k);
    expect(sent!.body.response_format).toBeUndefined();
    // Claude Sonnet 4.5 has native structured outputs: the schema goes in output_config, not in a forced tool.
    expect(sent!.body.output_config.format).toMatchObject({ type: "json_schema" });

    const k2 = key("gemini-json");
    const gem = await runOne({
      provider: "google",
      model: "gemini-2.5-flash",
      response_format: "json",
      json_schema: schema,
      messages: [{ role: "user", content: `[[key=${k2}]] [[json=${answer}]] [[prose=1]] Title it.` }],
    });
    expect(gem.status).toBe("succeeded");
    expect(gem.output).toMatchObject({ provider: "google", json: { title: "Spring tides", tags: ["moon", "sea"] } });
    const [g] = await calls("google", k2);
    expect(g!.headers["x-goog-api-key"]).toBe("g-local-test");
    expect(g!.body.generationConfig.responseMimeType).toBe("application/json");
  });
});

describe("Bedrock", () => {
  it("answers a cross-region inference profile id written as is, signed with SigV4", async () => {
    const k = key("bedrock");
    const node = await runOne({
      provider: "bedrock",
      model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      max_tokens: 500,
      messages: [{ role: "user", content: `[[key=${k}]] Hello from the edge.` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.output).toMatchObject({
      provider: "bedrock",
      text: "echo: Hello from the edge.",
      usage: { input_tokens: 100, output_tokens: 50 },
    });
    const [sent] = await calls("bedrock", k);
    expect(sent!.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-east-1\/bedrock\//,
    );
    expect(sent!.body.inferenceConfig.maxTokens).toBe(500);
  });

  it("is refused with AWS's message when the signature does not match", async () => {
    const res = await fetch(`${env.BEDROCK_URL}/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-amz-date": "20261205T120000Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20261205/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00",
      },
      body: JSON.stringify({ messages: [] }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toMatch(/signature we calculated does not match/);
  });
});

describe("tool calls", () => {
  const lookup = {
    name: "lookup_order",
    description: "Find an order by its number",
    input_schema: { type: "object", required: ["number"], properties: { number: { type: "string" } } },
  };
  for (const tier of ["mid", "strong"] as const)
    it(`come back as data from the ${tier} tier's provider, never run by the layer`, async () => {
      const k = key(`tools-${tier}`);
      const target = resolveTarget(env as unknown as Record<string, unknown>, { tier });
      if (!target.ok) throw new Error(target.message);
      const res = await callModel(env, target.target, {
        messages: [{ role: "user", content: `[[key=${k}]] [[tool=lookup_order:{"number":"A-17"}]] Where is A-17?` }],
        max_tokens: 500,
        json: false,
        tools: [lookup],
        idempotencyKey: `tools:${k}`,
        attempt: 1,
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.tool_calls).toEqual([{ id: expect.any(String), name: "lookup_order", input: { number: "A-17" } }]);
      expect(res.text).toBe("");
      const [sent] = await calls(tier === "mid" ? "openai" : "anthropic", k);
      const names = (sent!.body.tools as any[]).map((t) => t.function?.name ?? t.name);
      expect(names).toEqual(["lookup_order"]);
    });
});

describe("tier settings at start", () => {
  it("refuse a run whose llm node names a tier the deployment does not resolve, naming the node and what to set", async () => {
    const tenant = await createTenant();
    const api = client(tenant.token);
    const wf = await api.post("/v1/workflows", {
      name: "uses strong",
      nodes: [
        { id: "prep", kind: "transform", config: { expression: "1" } },
        {
          id: "ask",
          kind: "llm",
          needs: ["prep"],
          config: { tier: "strong", messages: [{ role: "user", content: "hi" }] },
        },
      ],
    });
    expect(wf.status).toBe(201);
    // The same deployment with MODEL_STRONG unset: the API answers 422 model_not_configured for such a start.
    const refused = await startExecution({ ...env, MODEL_STRONG: "" } as unknown as Env, openDb(env.DB).db, {
      tenantId: tenant.tenantId,
      workflowId: wf.body.id,
      input: null,
      requestForHash: null,
    });
    expect(refused).toMatchObject({
      ok: false,
      code: "model_not_configured",
      errors: [
        {
          path: "nodes[1].config.tier",
          message: 'tier "strong" is not configured: set MODEL_STRONG="provider:model" in [vars]',
        },
      ],
    });
    // Nothing was started: the tenant has no execution.
    expect((await api.get("/v1/executions")).body.data).toEqual([]);
    // With the tier set, the same start goes through.
    expect((await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: null })).status).toBe(201);
  });
});

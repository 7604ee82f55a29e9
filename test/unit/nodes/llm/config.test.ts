import { describe, expect, it } from "vitest";
import { priceOf, resolveModel } from "../../../../src/nodes/llm/config";
import { resolveTarget } from "../../../../src/nodes/llm/resolve";
import { placeModel } from "../../../../src/nodes/llm/catalog";
import { readJsonAnswer } from "../../../../src/nodes/llm/json-answer";
import { strictCompatible } from "../../../../src/nodes/llm/call";

describe("model resolution", () => {
  it("names the variable to set for an unconfigured tier", () => {
    expect(resolveModel({}, { tier: "strong" })).toEqual({
      ok: false,
      code: "model_not_configured",
      message: 'tier "strong" is not configured: set MODEL_STRONG="provider:model" in [vars]',
    });
    expect(resolveModel({ MODEL_MID: "gpt-4o" }, { tier: "mid" })).toMatchObject({
      ok: false,
      message: 'MODEL_MID="gpt-4o" must be "provider:model"',
    });
  });

  it("names the secret a provider needs, and lets local servers go without one", () => {
    expect(resolveModel({ MODEL_WEAK: "groq:llama" }, { tier: "weak" })).toMatchObject({
      ok: false,
      code: "provider_not_configured",
      message: 'provider "groq" has no API key: set the secret GROQ_API_KEY',
    });
    expect(
      resolveTarget({ MODEL_WEAK: "ollama:llama3.2", ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost" }, { tier: "weak" }),
    ).toEqual({
      ok: true,
      target: {
        provider: "ollama",
        model: "llama3.2",
        sdk: "openai-compatible",
        facts: { family: "ollama", reasoning: false, output_limit: null },
        baseUrl: "http://localhost:11434/v1",
        apiKey: null,
      },
    });
    // A local server is private space: it must be allowed explicitly (npm start does, for local development).
    const refused = resolveTarget({ MODEL_WEAK: "ollama:llama3.2" }, { tier: "weak" });
    expect(refused).toMatchObject({ ok: false, code: "ssrf_refused" });
    expect(!refused.ok && refused.message).toContain("ALLOWED_PRIVATE_HOSTS");
    expect(
      resolveModel({ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://x/v1/" }, { provider: "openai", model: "gpt-4o" }),
    ).toMatchObject({ ok: true, target: { baseUrl: "http://x/v1", apiKey: "k" } });
    expect(resolveModel({}, { provider: "nope", model: "m" })).toMatchObject({
      ok: false,
      code: "model_not_configured",
    });
  });

  it("reads per-model prices", () => {
    const vars = { MODEL_PRICES: JSON.stringify({ "openai:m": { input_per_mtok: 1, output_per_mtok: 2 } }) };
    expect(priceOf(vars, "openai", "m")).toEqual({ input_per_mtok: 1, output_per_mtok: 2 });
    expect(priceOf(vars, "openai", "other")).toBeNull();
    expect(priceOf({ MODEL_PRICES: "{broken" }, "openai", "m")).toBeNull();
  });
});

describe("model families and output limits", () => {
  it("places current models, reasoning or not, with their published output limits", () => {
    const facts = (p: string, m: string) => {
      const r = placeModel(p, m);
      return r.ok ? [r.facts.family, r.facts.reasoning, r.facts.output_limit] : r.message;
    };
    expect(facts("openai", "gpt-5-mini")).toEqual(["openai-reasoning", true, 128_000]);
    expect(facts("openai", "gpt-5-chat-latest")).toEqual(["openai-chat", false, 16_384]);
    expect(facts("openai", "o4-mini-2025-04-16")).toEqual(["openai-reasoning", true, 100_000]);
    expect(facts("openai", "gpt-4o-mini")).toEqual(["openai-chat", false, 16_384]);
    expect(facts("anthropic", "claude-sonnet-4-5-20250929")).toEqual(["anthropic", false, 64_000]);
    expect(facts("anthropic", "claude-opus-4-1")).toEqual(["anthropic", false, 32_000]);
    expect(facts("google", "gemini-2.5-flash")).toEqual(["gemini", false, 65_536]);
    expect(facts("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")).toEqual(["anthropic", false, 64_000]);
    expect(facts("bedrock", "amazon.nova-pro-v1:0")).toEqual(["amazon-nova", false, 10_000]);
    expect(facts("openrouter", "openai/gpt-4o-mini")).toEqual(["openai-chat", false, 16_384]);
    expect(facts("openrouter", "meta-llama/llama-3.1-8b-instruct")).toEqual(["openrouter-meta-llama", false, null]);
    expect(facts("ollama", "llama3.2")).toEqual(["ollama", false, null]);
  });

  it("refuses what it cannot place, saying what to set, unless MODEL_OUTPUT_LIMITS names it", () => {
    expect(placeModel("openai", "gpt-9")).toMatchObject({
      ok: false,
      message: expect.stringContaining("MODEL_OUTPUT_LIMITS"),
    });
    expect(placeModel("openai", "gpt-9", { "openai:gpt-9": 50_000 })).toEqual({
      ok: true,
      facts: { family: "openai", reasoning: false, output_limit: 50_000 },
    });
    expect(placeModel("openrouter", "gpt-4o")).toMatchObject({
      ok: false,
      message: expect.stringContaining("vendor/model"),
    });
    expect(placeModel("workers-ai", "llama")).toMatchObject({ ok: false, message: expect.stringContaining("@cf/") });
    expect(placeModel("nope", "m")).toMatchObject({ ok: false, message: expect.stringContaining("unknown provider") });
    expect(resolveModel({ MODEL_STRONG: "openai:gpt-9", OPENAI_API_KEY: "k" }, { tier: "strong" })).toMatchObject({
      ok: false,
      code: "model_unknown",
      message: expect.stringMatching(/^MODEL_STRONG: cannot place openai model "gpt-9"/),
    });
  });

  it("keeps Bedrock ids whole and asks for a region and credentials", () => {
    const id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    expect(resolveModel({ MODEL_STRONG: `bedrock:${id}` }, { tier: "strong" })).toMatchObject({
      ok: false,
      message: 'provider "bedrock" needs AWS_REGION in [vars]',
    });
    expect(resolveModel({ MODEL_STRONG: `bedrock:${id}`, AWS_REGION: "eu-west-1" }, { tier: "strong" })).toMatchObject({
      ok: false,
      message: expect.stringContaining("AWS_ACCESS_KEY_ID"),
    });
    const vars = {
      MODEL_STRONG: `bedrock:${id}`,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "a",
      AWS_SECRET_ACCESS_KEY: "s",
    };
    expect(resolveModel(vars, { tier: "strong" })).toMatchObject({
      ok: true,
      target: { model: id, baseUrl: "https://bedrock-runtime.eu-west-1.amazonaws.com", aws: { region: "eu-west-1" } },
    });
    const keyed = { MODEL_STRONG: `bedrock:${id}`, AWS_REGION: "us-east-1", BEDROCK_API_KEY: "bk" };
    const withKey = resolveModel(keyed, { tier: "strong" });
    expect(withKey).toMatchObject({ ok: true, target: { apiKey: "bk" } });
    expect(withKey.ok && withKey.target.aws).toBeUndefined();
  });
});

describe("JSON answers as models write them", () => {
  it("finds the JSON bare, fenced, or inside prose, and says what is wrong when there is none or it misfits", () => {
    const value = { title: "Tides", tags: ["moon"] };
    const json = JSON.stringify(value);
    for (const text of [
      json,
      `\`\`\`json\n${json}\n\`\`\``,
      `Sure! Here is the JSON you asked for:\n\n\`\`\`json\n${json}\n\`\`\`\n\nLet me know.`,
      `The answer is ${json} — hope that helps {not this}.`,
      `Note [see below]: ${json}`,
    ])
      expect(readJsonAnswer(text, undefined)).toEqual({ ok: true, value });
    expect(readJsonAnswer('{"a": "}"} tail', undefined)).toEqual({ ok: true, value: { a: "}" } });
    expect(readJsonAnswer("this is {not json", undefined)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^the answer holds no JSON value/),
    });
    const schema = { type: "object", required: ["score"], properties: { score: { type: "number" } } };
    expect(readJsonAnswer('{"score": "high"}', schema)).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^the JSON does not match json_schema: #\/score: /),
    });
  });

  it("tells a schema OpenAI's strict mode can take from one it cannot", () => {
    const open = { type: "object", required: ["a"], properties: { a: { type: "string" } } };
    expect(strictCompatible(open)).toBe(false);
    expect(strictCompatible({ ...open, additionalProperties: false })).toBe(true);
    const nested = {
      type: "object",
      additionalProperties: false,
      required: ["items"],
      properties: { items: { type: "array", items: { type: "object", properties: { x: { type: "number" } } } } },
    };
    expect(strictCompatible(nested)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { priceOf, resolveModel } from "../../../../src/nodes/llm/config";
import { resolveTarget } from "../../../../src/nodes/llm/resolve";

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
        protocol: "openai",
        baseUrl: "http://localhost:11434/v1",
        apiKey: null,
      },
    });
    // A local server is private space: it must be allowed explicitly (npm start does, for local development).
    const refused = resolveTarget({ MODEL_WEAK: "ollama:llama3.2" }, { tier: "weak" });
    expect(refused).toMatchObject({ ok: false, code: "ssrf_refused" });
    expect(!refused.ok && refused.message).toContain("ALLOWED_PRIVATE_HOSTS");
    expect(
      resolveModel({ OPENAI_API_KEY: "k", OPENAI_BASE_URL: "http://x/v1/" }, { provider: "openai", model: "m" }),
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

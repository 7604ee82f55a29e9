// What Edgeflow knows of each provider and model family: which SDK provider speaks to it, where it lives, which
// secret holds its key, whether it is a reasoning model, and its published output-token limit. Pure and
// import-free: config.ts (loaded by scripts/start.mjs with Node's type stripping) and save-time checks read it.

/** The AI SDK provider package that speaks to a provider (src/nodes/llm/sdk-models.ts builds the model). */
export type Sdk = "openai" | "anthropic" | "google" | "bedrock" | "openrouter" | "openai-compatible" | "workers-ai";

export interface ProviderSpec {
  sdk: Sdk;
  /** The default base URL; `<PROVIDER>_BASE_URL` overrides it. Empty: the provider is reached another way. */
  base: string;
  /** The secret holding the API key; null where a key is optional or credentials come otherwise. */
  keyVar: string | null;
  /** How model ids of this provider are placed in a family (see placeModel). */
  families: "openai" | "anthropic" | "google" | "bedrock" | "openrouter" | "any" | "workers-ai";
}

export const PROVIDERS: Record<string, ProviderSpec> = {
  openai: { sdk: "openai", base: "https://api.openai.com/v1", keyVar: "OPENAI_API_KEY", families: "openai" },
  anthropic: {
    sdk: "anthropic",
    base: "https://api.anthropic.com",
    keyVar: "ANTHROPIC_API_KEY",
    families: "anthropic",
  },
  google: {
    sdk: "google",
    base: "https://generativelanguage.googleapis.com/v1beta",
    keyVar: "GOOGLE_GENERATIVE_AI_API_KEY",
    families: "google",
  },
  // SigV4 from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or a Bedrock API key.
  bedrock: { sdk: "bedrock", base: "", keyVar: null, families: "bedrock" },
  openrouter: {
    sdk: "openrouter",
    base: "https://openrouter.ai/api/v1",
    keyVar: "OPENROUTER_API_KEY",
    families: "openrouter",
  },
  groq: { sdk: "openai-compatible", base: "https://api.groq.com/openai/v1", keyVar: "GROQ_API_KEY", families: "any" },
  vllm: { sdk: "openai-compatible", base: "http://localhost:8000/v1", keyVar: null, families: "any" },
  ollama: { sdk: "openai-compatible", base: "http://localhost:11434/v1", keyVar: null, families: "any" },
  lmstudio: { sdk: "openai-compatible", base: "http://localhost:1234/v1", keyVar: null, families: "any" },
  "workers-ai": { sdk: "workers-ai", base: "", keyVar: null, families: "workers-ai" },
};
export const PROVIDER_NAMES = Object.keys(PROVIDERS);

/** A model as the layer understands it. */
export interface ModelFacts {
  family: string;
  /** OpenAI's reasoning models take max_completion_tokens and refuse sampling parameters. */
  reasoning: boolean;
  /** The most output tokens one call may ask for; null where the server decides (local and open-weight servers). */
  output_limit: number | null;
}

// Published output limits, longest prefix first wins (model ids carry dates and versions after these).
const OPENAI_LIMITS: [string, number][] = [
  ["gpt-5-chat", 16_384],
  ["gpt-5", 128_000],
  ["gpt-4.1", 32_768],
  ["gpt-4o", 16_384],
  ["chatgpt-4o", 16_384],
  ["gpt-4-turbo", 4_096],
  ["gpt-4", 8_192],
  ["gpt-3.5-turbo", 4_096],
  ["o1-mini", 65_536],
  ["o1", 100_000],
  ["o3", 100_000],
  ["o4-mini", 100_000],
];
const ANTHROPIC_LIMITS: [string, number][] = [
  ["claude-opus-4-5", 64_000],
  ["claude-opus-4-1", 32_000],
  ["claude-opus-4", 32_000],
  ["claude-sonnet-4-5", 64_000],
  ["claude-sonnet-4", 64_000],
  ["claude-haiku-4-5", 64_000],
  ["claude-3-7-sonnet", 64_000],
  ["claude-3-5-sonnet", 8_192],
  ["claude-3-5-haiku", 8_192],
  ["claude-3-haiku", 4_096],
  ["claude-3-opus", 4_096],
];
const GOOGLE_LIMITS: [string, number][] = [
  ["gemini-3", 65_536],
  ["gemini-2.5", 65_536],
  ["gemini-2.0", 8_192],
  ["gemini-1.5", 8_192],
];
// Bedrock's own model families (ids after the vendor, e.g. amazon.nova-pro-v1:0).
const AMAZON_LIMITS: [string, number][] = [
  ["nova-premier", 32_000],
  ["nova-pro", 10_000],
  ["nova-lite", 10_000],
  ["nova-micro", 10_000],
];

function byPrefix(table: [string, number][], id: string): number | null {
  let best: [string, number] | null = null;
  for (const row of table) if (id.startsWith(row[0]) && (!best || row[0].length > best[0].length)) best = row;
  return best ? best[1] : null;
}

const isOpenAiReasoning = (id: string) => /^(o\d)(-|$)/.test(id) || (/^gpt-5/.test(id) && !/^gpt-5-chat/.test(id));

type Placement = { ok: true; facts: ModelFacts } | { ok: false; message: string };

function openaiFacts(id: string): ModelFacts | null {
  const limit = byPrefix(OPENAI_LIMITS, id);
  if (limit === null) return null;
  return {
    family: isOpenAiReasoning(id) ? "openai-reasoning" : "openai-chat",
    reasoning: isOpenAiReasoning(id),
    output_limit: limit,
  };
}

function anthropicFacts(id: string): ModelFacts | null {
  const limit = byPrefix(ANTHROPIC_LIMITS, id);
  return limit === null ? null : { family: "anthropic", reasoning: false, output_limit: limit };
}

function googleFacts(id: string): ModelFacts | null {
  const limit = byPrefix(GOOGLE_LIMITS, id);
  return limit === null ? null : { family: "gemini", reasoning: false, output_limit: limit };
}

/** Bedrock ids: an optional inference-profile region (us., eu., apac., global.), the vendor, the model and version. */
function bedrockFacts(id: string): ModelFacts | null {
  const m = /^(?:(?:us|eu|apac|global|us-gov)\.)?([a-z0-9-]+)\.(.+)$/.exec(id);
  if (!m) return null;
  const [, vendor, model] = m as unknown as [string, string, string];
  if (vendor === "anthropic") return anthropicFacts(model);
  if (vendor === "amazon") {
    const limit = byPrefix(AMAZON_LIMITS, model);
    return limit === null ? null : { family: "amazon-nova", reasoning: false, output_limit: limit };
  }
  // Open-weight families served by Bedrock: the server enforces their limits.
  if (["meta", "mistral", "cohere", "ai21", "deepseek", "qwen", "openai", "writer"].includes(vendor))
    return { family: `bedrock-${vendor}`, reasoning: false, output_limit: null };
  return null;
}

/** OpenRouter ids are vendor/model: the vendors whose families are known are placed; others keep the server's limit. */
function openrouterFacts(id: string): ModelFacts | null {
  const cut = id.indexOf("/");
  if (cut <= 0 || cut === id.length - 1) return null;
  const vendor = id.slice(0, cut);
  const model = id.slice(cut + 1).replace(/:[a-z]+$/, "");
  if (vendor === "openai") return openaiFacts(model);
  if (vendor === "anthropic") return anthropicFacts(model.replace(/\./g, "-"));
  if (vendor === "google") return googleFacts(model);
  return { family: `openrouter-${vendor}`, reasoning: false, output_limit: null };
}

const WHAT_TO_SET =
  "set MODEL_OUTPUT_LIMITS='{\"provider:model\": <max output tokens>}' in [vars] to use a model this layer does not know";

/**
 * Place a model in its family, or say why it cannot be placed. `overrides` is MODEL_OUTPUT_LIMITS: a listed model is
 * always placed, with that limit (and OpenAI's naming rule for reasoning models).
 */
export function placeModel(provider: string, model: string, overrides: Record<string, number> = {}): Placement {
  const spec = PROVIDERS[provider];
  if (!spec) return { ok: false, message: `unknown provider "${provider}" (known: ${PROVIDER_NAMES.join(", ")})` };
  const override = overrides[`${provider}:${model}`];
  let facts: ModelFacts | null;
  switch (spec.families) {
    case "openai":
      facts = openaiFacts(model);
      break;
    case "anthropic":
      facts = anthropicFacts(model);
      break;
    case "google":
      facts = googleFacts(model.replace(/^models\//, ""));
      break;
    case "bedrock":
      facts = bedrockFacts(model);
      break;
    case "openrouter":
      facts = openrouterFacts(model);
      if (!facts && override === undefined)
        return {
          ok: false,
          message: `openrouter models are "vendor/model" (e.g. "openai/gpt-4o-mini"), not "${model}"`,
        };
      break;
    case "workers-ai":
      if (!model.startsWith("@cf/") && !model.startsWith("@hf/") && override === undefined)
        return {
          ok: false,
          message: `workers-ai models are "@cf/…" ids (e.g. "@cf/meta/llama-3.1-8b-instruct"), not "${model}"`,
        };
      facts = { family: "workers-ai", reasoning: false, output_limit: null };
      break;
    default:
      facts = { family: provider, reasoning: false, output_limit: null };
  }
  if (override !== undefined) {
    const reasoning = facts?.reasoning ?? (spec.families === "openai" && isOpenAiReasoning(model));
    return { ok: true, facts: { family: facts?.family ?? provider, reasoning, output_limit: override } };
  }
  if (!facts)
    return { ok: false, message: `cannot place ${provider} model "${model}" in a known family: ${WHAT_TO_SET}` };
  return { ok: true, facts };
}

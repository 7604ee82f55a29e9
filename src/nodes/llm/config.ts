// Which provider and model a tier or an explicit choice means, read from [vars] and secrets.
// Imports nothing: scripts/start.mjs loads this file with Node's type stripping to print the tiers.

export type Protocol = "openai" | "anthropic" | "workers-ai";
export const TIERS = ["strong", "mid", "weak"] as const;
export type Tier = (typeof TIERS)[number];

interface ProviderSpec {
  protocol: Protocol;
  base: string;
  /** The secret holding the API key; null for local servers that need none. */
  keyVar: string | null;
}

// OpenAI-compatible Chat Completions is spoken by OpenAI, OpenRouter, Groq, vLLM, Ollama and LM Studio.
const PROVIDERS: Record<string, ProviderSpec> = {
  openai: { protocol: "openai", base: "https://api.openai.com/v1", keyVar: "OPENAI_API_KEY" },
  openrouter: { protocol: "openai", base: "https://openrouter.ai/api/v1", keyVar: "OPENROUTER_API_KEY" },
  groq: { protocol: "openai", base: "https://api.groq.com/openai/v1", keyVar: "GROQ_API_KEY" },
  vllm: { protocol: "openai", base: "http://localhost:8000/v1", keyVar: null },
  ollama: { protocol: "openai", base: "http://localhost:11434/v1", keyVar: null },
  lmstudio: { protocol: "openai", base: "http://localhost:1234/v1", keyVar: null },
  anthropic: { protocol: "anthropic", base: "https://api.anthropic.com", keyVar: "ANTHROPIC_API_KEY" },
  "workers-ai": { protocol: "workers-ai", base: "", keyVar: null },
};
export const PROVIDER_NAMES = Object.keys(PROVIDERS);

export interface ResolvedModel {
  provider: string;
  model: string;
  protocol: Protocol;
  baseUrl: string;
  apiKey: string | null;
}

export type Resolution = { ok: true; target: ResolvedModel } | { ok: false; code: string; message: string };

type Vars = Record<string, unknown>;
const str = (vars: Vars, name: string): string | undefined => {
  const v = vars[name];
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
};

export const tierVar = (tier: Tier): string => `MODEL_${tier.toUpperCase()}`;

/** `provider:model` for a tier, as configured, or undefined. */
export function tierSetting(vars: Vars, tier: Tier): string | undefined {
  return str(vars, tierVar(tier));
}

/** Resolve a node's choice (a tier, or provider + model) into an endpoint, or say exactly what to configure. */
export function resolveModel(
  vars: Vars,
  choice: { tier?: Tier | undefined; provider?: string | undefined; model?: string | undefined },
): Resolution {
  let provider = choice.provider;
  let model = choice.model;
  if (choice.tier) {
    const setting = tierSetting(vars, choice.tier);
    if (!setting)
      return {
        ok: false,
        code: "model_not_configured",
        message: `tier "${choice.tier}" is not configured: set ${tierVar(choice.tier)}="provider:model" in [vars]`,
      };
    const cut = setting.indexOf(":");
    if (cut <= 0)
      return {
        ok: false,
        code: "model_not_configured",
        message: `${tierVar(choice.tier)}="${setting}" must be "provider:model"`,
      };
    provider = setting.slice(0, cut);
    model = setting.slice(cut + 1);
  }
  const spec = provider ? PROVIDERS[provider] : undefined;
  if (!provider || !model || !spec) {
    return {
      ok: false,
      code: "model_not_configured",
      message: `unknown provider "${provider ?? ""}" (known: ${PROVIDER_NAMES.join(", ")})`,
    };
  }
  const prefix = provider.toUpperCase().replace(/-/g, "_");
  const apiKey = spec.keyVar ? str(vars, spec.keyVar) : str(vars, `${prefix}_API_KEY`);
  if (spec.keyVar && !apiKey)
    return {
      ok: false,
      code: "provider_not_configured",
      message: `provider "${provider}" has no API key: set the secret ${spec.keyVar}`,
    };
  const baseUrl = (str(vars, `${prefix}_BASE_URL`) ?? spec.base).replace(/\/+$/, "");
  return { ok: true, target: { provider, model, protocol: spec.protocol, baseUrl, apiKey: apiKey ?? null } };
}

export interface Price {
  input_per_mtok: number;
  output_per_mtok: number;
}

/** MODEL_PRICES: JSON {"provider:model": {"input_per_mtok": n, "output_per_mtok": n}} (USD per million tokens). */
export function priceOf(vars: Vars, provider: string, model: string): Price | null {
  const raw = str(vars, "MODEL_PRICES");
  if (!raw) return null;
  try {
    const table = JSON.parse(raw) as Record<string, Price>;
    const p = table[`${provider}:${model}`];
    return p && typeof p.input_per_mtok === "number" && typeof p.output_per_mtok === "number" ? p : null;
  } catch {
    return null;
  }
}

/** The default max_tokens of a tier (MODEL_<TIER>_MAX_TOKENS), or null when unset or not a positive integer. */
export function tierMaxTokens(vars: Vars, tier: Tier): number | null {
  const n = Number(vars[`MODEL_${tier.toUpperCase()}_MAX_TOKENS`]);
  return Number.isInteger(n) && n > 0 ? n : null;
}

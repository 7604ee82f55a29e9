// Which provider and model a tier or an explicit choice means, read from [vars] and secrets.
// Imports only the catalog, by its .ts name: scripts/start.mjs loads this file with Node's type stripping.

import { placeModel, PROVIDERS, PROVIDER_NAMES, type ModelFacts, type Sdk } from "./catalog.ts";

export { PROVIDER_NAMES };
export const TIERS = ["strong", "mid", "weak"] as const;
export type Tier = (typeof TIERS)[number];

export interface ResolvedModel {
  provider: string;
  model: string;
  sdk: Sdk;
  /** The model's family, whether it reasons, and its output-token limit. */
  facts: ModelFacts;
  /** Empty for providers reached by binding (workers-ai) or by region (bedrock without BEDROCK_BASE_URL). */
  baseUrl: string;
  apiKey: string | null;
  /** Bedrock: the region and SigV4 credentials (absent when a Bedrock API key is used). */
  aws?: { region: string; accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
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

/** MODEL_OUTPUT_LIMITS: JSON {"provider:model": max output tokens}, for models the catalog does not know. */
export function outputLimits(vars: Vars): Record<string, number> {
  const raw = str(vars, "MODEL_OUTPUT_LIMITS");
  if (!raw) return {};
  try {
    const table = JSON.parse(raw) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(table).filter((e): e is [string, number] => Number.isInteger(e[1]) && (e[1] as number) > 0),
    );
  } catch {
    return {};
  }
}

/** Split "provider:model" at the first colon (Bedrock ids hold colons of their own: "…-v1:0"). */
export function splitChoice(setting: string): { provider: string; model: string } | null {
  const cut = setting.indexOf(":");
  return cut > 0 && cut < setting.length - 1
    ? { provider: setting.slice(0, cut), model: setting.slice(cut + 1) }
    : null;
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
    const split = splitChoice(setting);
    if (!split)
      return {
        ok: false,
        code: "model_not_configured",
        message: `${tierVar(choice.tier)}="${setting}" must be "provider:model"`,
      };
    ({ provider, model } = split);
  }
  const spec = provider ? PROVIDERS[provider] : undefined;
  if (!provider || !model || !spec) {
    return {
      ok: false,
      code: "model_not_configured",
      message: `unknown provider "${provider ?? ""}" (known: ${PROVIDER_NAMES.join(", ")})`,
    };
  }
  const placed = placeModel(provider, model, outputLimits(vars));
  if (!placed.ok) {
    const where = choice.tier ? `${tierVar(choice.tier)}: ` : "";
    return { ok: false, code: "model_unknown", message: `${where}${placed.message}` };
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
  const target: ResolvedModel = {
    provider,
    model,
    sdk: spec.sdk,
    facts: placed.facts,
    baseUrl,
    apiKey: apiKey ?? null,
  };
  if (spec.sdk !== "bedrock") return { ok: true, target };
  return bedrock(vars, target);
}

/** Bedrock: a region, and either a Bedrock API key or SigV4 credentials. */
function bedrock(vars: Vars, target: ResolvedModel): Resolution {
  const region = str(vars, "AWS_REGION");
  if (!region)
    return { ok: false, code: "provider_not_configured", message: 'provider "bedrock" needs AWS_REGION in [vars]' };
  const baseUrl = target.baseUrl || `https://bedrock-runtime.${region}.amazonaws.com`;
  if (target.apiKey) return { ok: true, target: { ...target, baseUrl } };
  const accessKeyId = str(vars, "AWS_ACCESS_KEY_ID");
  const secretAccessKey = str(vars, "AWS_SECRET_ACCESS_KEY");
  if (!accessKeyId || !secretAccessKey)
    return {
      ok: false,
      code: "provider_not_configured",
      message:
        'provider "bedrock" has no credentials: set the secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or BEDROCK_API_KEY)',
    };
  const aws = { region, accessKeyId, secretAccessKey, sessionToken: str(vars, "AWS_SESSION_TOKEN") };
  return { ok: true, target: { ...target, baseUrl, aws } };
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

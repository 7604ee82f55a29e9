// What a workflow's llm nodes can be refused for before anything runs, with the deployment's own settings. At save:
// a fixed provider or model the layer cannot place, and a max_tokens above the model's limit (MODEL_OUTPUT_LIMITS
// counts). At start: a tier the deployment does not resolve (unset, unknown provider or model, no key), since what
// a tier means is configuration that may change after the save.
import type { Definition, FieldError } from "../../engine/dag";
import { placeModel } from "./catalog";
import { outputLimits, resolveModel, splitChoice, TIERS, type Tier } from "./config";

type Vars = Record<string, unknown>;
type LlmNode = { kind?: string; config?: Record<string, unknown> };

/** Every node that calls a model (llm, agent) with its path, the node template inside a map included. */
function llmNodes(def: Definition): [LlmNode, string][] {
  return def.nodes.flatMap((n, i): [LlmNode, string][] => {
    const inner = n.kind === "map" ? (n.config.node as LlmNode | undefined) : undefined;
    const all: [LlmNode, string][] = [[n, `nodes[${i}]`]];
    if (inner) all.push([inner, `nodes[${i}].config.node`]);
    return all.filter(([x]) => (x.kind === "llm" || x.kind === "agent") && x.config);
  });
}

/** Errors for every llm node whose model is fixed in the definition. */
export function modelErrors(def: Definition, vars: Vars): FieldError[] {
  const limits = outputLimits(vars);
  return llmNodes(def).flatMap(([n, at]) => fixedModelErrors(n.config ?? {}, at, limits));
}

/** Errors for every llm node whose tier the deployment does not resolve now, naming what to set. */
export function tierErrors(def: Definition, vars: Vars): FieldError[] {
  const seen = new Map<string, ReturnType<typeof resolveModel>>();
  return llmNodes(def).flatMap(([n, at]) => {
    const tier = n.config?.tier;
    if (typeof tier !== "string" || !(TIERS as readonly string[]).includes(tier)) return [];
    const r = seen.get(tier) ?? resolveModel(vars, { tier: tier as Tier });
    seen.set(tier, r);
    return r.ok ? [] : [{ path: `${at}.config.tier`, message: r.message }];
  });
}

function fixedModelErrors(c: Record<string, unknown>, at: string, limits: Record<string, number>): FieldError[] {
  const errors: FieldError[] = [];
  const fixed = (value: unknown): value is string => typeof value === "string" && !value.includes("{{");
  if (fixed(c.provider) && fixed(c.model)) {
    const placed = placeModel(c.provider, c.model, limits);
    if (!placed.ok) errors.push({ path: `${at}.config.model`, message: placed.message });
    else {
      const limit = placed.facts.output_limit;
      if (limit !== null && typeof c.max_tokens === "number" && c.max_tokens > limit)
        errors.push({
          path: `${at}.config.max_tokens`,
          message: `max_tokens ${c.max_tokens} is above ${c.provider}:${c.model}'s output limit of ${limit}: set at most ${limit} (on_truncation "continue" goes past it in several calls)`,
        });
    }
  }
  if (Array.isArray(c.fallback))
    c.fallback.forEach((entry: unknown, j: number) => {
      if (typeof entry !== "string" || (TIERS as readonly string[]).includes(entry)) return;
      const split = splitChoice(entry);
      if (!split) return;
      const placed = placeModel(split.provider, split.model, limits);
      if (!placed.ok) errors.push({ path: `${at}.config.fallback[${j}]`, message: placed.message });
    });
  return errors;
}

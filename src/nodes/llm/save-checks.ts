// What a workflow that fixes its models can be refused for at save, with the deployment's own settings
// (MODEL_OUTPUT_LIMITS): a provider or model the layer cannot place, and a max_tokens above the model's limit.
// Tiers are not judged here: what a tier means is configuration, resolved when a node runs.
import type { Definition, FieldError } from "../../engine/dag";
import { placeModel } from "./catalog";
import { outputLimits, splitChoice, TIERS } from "./config";

type Vars = Record<string, unknown>;

/** Errors for every llm node (and llm node template inside a map) whose model is fixed in the definition. */
export function modelErrors(def: Definition, vars: Vars): FieldError[] {
  const limits = outputLimits(vars);
  return def.nodes.flatMap((n, i) => {
    const here = nodeErrors(n, `nodes[${i}]`, limits);
    const inner =
      n.kind === "map" ? (n.config.node as { kind?: string; config?: Record<string, unknown> } | undefined) : undefined;
    return inner ? [...here, ...nodeErrors(inner, `nodes[${i}].config.node`, limits)] : here;
  });
}

function nodeErrors(
  n: { kind?: string; config?: Record<string, unknown> },
  at: string,
  limits: Record<string, number>,
): FieldError[] {
  if (n.kind !== "llm" || !n.config) return [];
  const c = n.config;
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
    c.fallback.forEach((entry, j) => {
      if (typeof entry !== "string" || (TIERS as readonly string[]).includes(entry)) return;
      const split = splitChoice(entry);
      if (!split) return;
      const placed = placeModel(split.provider, split.model, limits);
      if (!placed.ok) errors.push({ path: `${at}.config.fallback[${j}]`, message: placed.message });
    });
  return errors;
}

// A JSON answer as real models give it: bare, in a fence, or inside prose ("Here is the JSON: {...} Hope it
// helps"). The first JSON object or array found is taken, then checked against the node's json_schema.
import { Validator, type Schema } from "@cfworker/json-schema";

export type JsonAnswer = { ok: true; value: unknown } | { ok: false; problem: string };

/** The JSON value in a model's answer, or what is wrong with it (said to the model when it is asked again). */
export function readJsonAnswer(text: string, schema: Record<string, unknown> | undefined): JsonAnswer {
  const found = extractJson(text);
  if (!found.ok) return found;
  if (!schema) return found;
  const result = new Validator(schema as Schema, "2020-12", false).validate(found.value);
  if (result.valid) return found;
  const detail = result.errors
    .filter((e) => e.keyword !== "properties")
    .map((e) => `${e.instanceLocation}: ${e.error}`)
    .join("; ");
  return { ok: false, problem: `the JSON does not match json_schema: ${detail}` };
}

/** Candidates in order: the whole text, each fenced block, then each balanced {...} or [...] in the prose. */
export function extractJson(text: string): JsonAnswer {
  const trimmed = text.trim();
  const whole = tryParse(trimmed);
  if (whole.ok) return whole;
  for (const m of trimmed.matchAll(/```[a-zA-Z]*\s*\n?([\s\S]*?)```/g)) {
    const fenced = tryParse((m[1] ?? "").trim());
    if (fenced.ok) return fenced;
  }
  for (let i = 0; i < trimmed.length; i++) {
    const ch = trimmed[i];
    if (ch !== "{" && ch !== "[") continue;
    const end = balancedEnd(trimmed, i);
    if (end < 0) continue;
    const inner = tryParse(trimmed.slice(i, end + 1));
    if (inner.ok) return inner;
  }
  const reason = whole.ok ? "" : whole.problem;
  return { ok: false, problem: `the answer holds no JSON value (${reason}): ${text.slice(0, 200)}` };
}

function tryParse(s: string): JsonAnswer {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch (err) {
    return { ok: false, problem: err instanceof Error ? err.message : String(err) };
  }
}

/** Where the bracket opened at `start` closes, skipping brackets inside strings; -1 when it never does. */
function balancedEnd(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const ch = s[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{" || ch === "[") depth++;
    else if (ch === "}" || ch === "]") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

// JSON Schema checks for workflow inputs; used when a definition is saved and when an execution starts.
import { Validator, type Schema } from "@cfworker/json-schema";

// @cfworker/json-schema interprets schemas without code generation, which workerd forbids (no eval).
export function checkJsonSchema(schema: Record<string, unknown>): string | null {
  try {
    new Validator(schema as Schema, "2020-12", false).validate(null);
    return null;
  } catch (err) {
    return `invalid JSON Schema: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export function validateInput(schema: Record<string, unknown>, input: unknown): { path: string; message: string }[] {
  const result = new Validator(schema as Schema, "2020-12", false).validate(input);
  if (result.valid) return [];
  // The innermost errors name the failing keyword; the rest are "properties failed" wrappers.
  return result.errors
    .filter((e) => !["properties", "allOf", "items", "$ref"].includes(e.keyword) || result.errors.length === 1)
    .map((e) => ({ path: `input${e.instanceLocation.replace(/^#/, "").replace(/\//g, ".")}`, message: e.error }));
}

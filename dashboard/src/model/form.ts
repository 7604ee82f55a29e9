// The run form: one field per top-level property of the workflow's input_schema, parsed back into the input.
import type { JsonSchema } from "./types";

export type FieldKind = "string" | "number" | "integer" | "boolean" | "enum" | "json";
export interface Field {
  name: string;
  kind: FieldKind;
  required: boolean;
  label: string;
  description: string | null;
  options: string[];
  initial: string;
}

function kindOf(s: JsonSchema): FieldKind {
  if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === "string")) return "enum";
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  return t === "string" || t === "number" || t === "integer" || t === "boolean" ? t : "json";
}

/** null when the schema does not describe an object by its properties: then the form is one JSON box. */
export function fieldsOf(schema: JsonSchema | undefined): Field[] | null {
  if (!schema || !schema.properties) return null;
  return Object.entries(schema.properties).map(([name, s]) => {
    const kind = kindOf(s);
    const initial =
      s.default === undefined ? "" : kind === "json" ? JSON.stringify(s.default) : String(s.default as string);
    return {
      name,
      kind,
      required: schema.required?.includes(name) ?? false,
      label: s.title ?? name,
      description: s.description ?? null,
      options: kind === "enum" ? (s.enum as string[]) : [],
      initial: kind === "boolean" && initial === "" ? "false" : initial,
    };
  });
}

export type Parsed = { ok: true; input: Record<string, unknown> } | { ok: false; errors: Record<string, string> };

/** Empty optional fields are left out (not sent as ""): a missing value is absent, never an empty string. */
export function parseFields(fields: readonly Field[], values: Record<string, string>): Parsed {
  const input: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const raw = values[f.name] ?? "";
    if (raw.trim() === "" && f.kind !== "boolean") {
      if (f.required) errors[f.name] = "required";
      continue;
    }
    if (f.kind === "string" || f.kind === "enum") input[f.name] = raw;
    else if (f.kind === "boolean") input[f.name] = raw === "true";
    else if (f.kind === "number" || f.kind === "integer") {
      const n = Number(raw);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n)))
        errors[f.name] = `expected ${f.kind === "integer" ? "an integer" : "a number"}`;
      else input[f.name] = n;
    } else {
      try {
        input[f.name] = JSON.parse(raw);
      } catch {
        errors[f.name] = "expected JSON";
      }
    }
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, input };
}

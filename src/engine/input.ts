// JSON Schema checks for workflow inputs; used when a definition is saved and when an execution starts.
import { Validator, type Schema } from "@cfworker/json-schema";
import { z } from "zod";

const TYPES = ["null", "boolean", "object", "array", "number", "string", "integer"] as const;

// @cfworker/json-schema interprets schemas without code generation (workerd forbids eval) but does not check
// a schema's own shape, so the standard keywords' types are checked here, with the failing path.
const schemaShape: z.ZodType = z.lazy(() =>
  z.union([
    z.boolean(),
    z
      .object({
        type: z.union([z.enum(TYPES), z.array(z.enum(TYPES)).min(1)]).optional(),
        properties: z.record(z.string(), schemaShape).optional(),
        patternProperties: z.record(z.string(), schemaShape).optional(),
        additionalProperties: schemaShape.optional(),
        items: schemaShape.optional(),
        prefixItems: z.array(schemaShape).optional(),
        required: z.array(z.string()).optional(),
        enum: z.array(z.unknown()).optional(),
        allOf: z.array(schemaShape).min(1).optional(),
        anyOf: z.array(schemaShape).min(1).optional(),
        oneOf: z.array(schemaShape).min(1).optional(),
        not: schemaShape.optional(),
        $defs: z.record(z.string(), schemaShape).optional(),
        minimum: z.number().optional(),
        maximum: z.number().optional(),
        minLength: z.number().int().min(0).optional(),
        maxLength: z.number().int().min(0).optional(),
        minItems: z.number().int().min(0).optional(),
        maxItems: z.number().int().min(0).optional(),
        pattern: z.string().optional(),
        format: z.string().optional(),
        $ref: z.string().optional(),
      })
      .loose(),
  ]),
);

export function checkJsonSchema(schema: Record<string, unknown>): string | null {
  const shape = schemaShape.safeParse(schema);
  if (!shape.success) {
    const issue = shape.error.issues[0];
    return `invalid JSON Schema at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`;
  }
  try {
    new Validator(schema as Schema, "2020-12", false).validate(null);
    return null;
  } catch (err) {
    return `invalid JSON Schema: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Where `input` fails `schema`, each path starting at `root` (an execution's input; an approval's decision data). */
export function validateInput(
  schema: Record<string, unknown>,
  input: unknown,
  root = "input",
): { path: string; message: string }[] {
  const result = new Validator(schema as Schema, "2020-12", false).validate(input);
  if (result.valid) return [];
  // The innermost errors name the failing keyword; the rest are "properties failed" wrappers.
  const leaves = result.errors.filter((e) => !["properties", "allOf", "items", "$ref"].includes(e.keyword));
  return (leaves.length ? leaves : result.errors).map((e) => ({
    path: `${root}${e.instanceLocation.replace(/^#/, "").replace(/\//g, ".")}`,
    message: e.error,
  }));
}

// The JSON Schema of a workflow definition file, generated from the same zod schemas the API validates with: the
// definition's own fields, and each node as a discriminated union over `kind` with that kind's config schema. Served
// at /schemas/workflow.json and committed as schemas/workflow.json, so a file with "$schema" gets completion and
// errors in an editor. Rules zod cannot express (needs that exist, no cycles, expressions that compile) stay with
// the API's validation.
import { z } from "zod";
import { definitionSchema, MAX_NODES, nodeSchema, type NodeKindSpec } from "./dag";

export const WORKFLOW_SCHEMA_PATH = "/schemas/workflow.json";
export const TEMPLATE_SCHEMA_PATH = "/schemas/template.json";

/** The definition as zod, with each node typed by its kind (for JSON Schema and the OpenAPI document). */
export function definitionWithKinds(kinds: Record<string, NodeKindSpec>) {
  const names = Object.keys(kinds).sort();
  const variants = names.map((kind) =>
    nodeSchema.extend({
      kind: z.literal(kind),
      config: (kinds[kind] as NodeKindSpec).config,
    }),
  );
  const node = z.discriminatedUnion("kind", variants as [(typeof variants)[0], ...typeof variants]);
  return definitionSchema.extend({
    $schema: z.string().max(2048).optional().describe("Where editors find this schema; ignored by the API."),
    nodes: z.array(node).min(1).max(MAX_NODES),
  });
}

const toJsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;

/** The workflow definition schema (JSON Schema 2020-12). */
export function workflowJsonSchema(kinds: Record<string, NodeKindSpec>): Record<string, unknown> {
  return {
    ...toJsonSchema(definitionWithKinds(kinds)),
    $id: WORKFLOW_SCHEMA_PATH,
    title: "Edgeflow workflow definition",
  };
}

/** A template file in templates/: a description, an example input, and a definition. */
export function templateJsonSchema(kinds: Record<string, NodeKindSpec>): Record<string, unknown> {
  const template = z
    .object({
      $schema: z.string().max(2048).optional(),
      name: z.string().min(1).max(200),
      description: z.string().min(1),
      input_example: z.unknown(),
      definition: definitionWithKinds(kinds),
    })
    .strict();
  return { ...toJsonSchema(template), $id: TEMPLATE_SCHEMA_PATH, title: "Edgeflow workflow template" };
}

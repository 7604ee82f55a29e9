import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../../src/engine/dag";
import { templateJsonSchema, workflowJsonSchema } from "../../../src/engine/workflow-schema";
import { kindSpecs } from "../../../src/nodes";

const workflowSchema = workflowJsonSchema(kindSpecs);
const templateSchema = templateJsonSchema(kindSpecs);
const errorsOf = (schema: Record<string, unknown>, value: unknown) =>
  new Validator(schema as never, "2020-12", false).validate(value).errors.map((e) => e.instanceLocation);

describe("the workflow JSON Schema", () => {
  it("is committed as generated (`npx vitest run --project unit -u` rewrites it after a schema change)", async () => {
    await expect(`${JSON.stringify(workflowSchema, null, 2)}\n`).toMatchFileSnapshot("../../../schemas/workflow.json");
    await expect(`${JSON.stringify(templateSchema, null, 2)}\n`).toMatchFileSnapshot("../../../schemas/template.json");
  });

  it("has one node variant per kind, each with that kind's config", () => {
    const node = (workflowSchema.properties as any).nodes.items;
    const variants = (node.oneOf ?? node.anyOf) as any[];
    expect(variants.map((v) => v.properties.kind.const).sort()).toEqual(Object.keys(kindSpecs).sort());
    const http = variants.find((v) => v.properties.kind.const === "http");
    expect(http.properties.config.required).toContain("url");
  });

  it("accepts every template file, which names it in $schema", () => {
    const dir = join(import.meta.dirname, "../../../templates");
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(files.length).toBe(8);
    for (const f of files) {
      const t = JSON.parse(readFileSync(join(dir, f), "utf8"));
      expect(t.$schema, f).toBe("../schemas/template.json");
      expect(errorsOf(templateSchema, t), f).toEqual([]);
    }
  });

  it("points at the wrong part of a bad definition, as an editor would underline it", () => {
    const bad = {
      name: "bad",
      nodes: [
        { id: "a", kind: "http", config: { method: "GET" } },
        { id: "b", kind: "sleep", config: { duration_ms: "soon" } },
        { id: "c", kind: "teleport", config: {} },
      ],
    };
    const at = errorsOf(workflowSchema, bad);
    expect(at).toContain("#/nodes/0");
    expect(at.some((p) => p.startsWith("#/nodes/1"))).toBe(true);
    expect(at.some((p) => p.startsWith("#/nodes/2"))).toBe(true);
    expect(errorsOf(workflowSchema, { ...bad, nodes: bad.nodes.slice(0, 0) })).toContain("#/nodes");
  });

  it("lets a definition carry $schema, which the API accepts and does not store", () => {
    const def = {
      $schema: "https://edgeflow.example/schemas/workflow.json",
      name: "with-schema",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    };
    expect(errorsOf(workflowSchema, def)).toEqual([]);
    const r = validateDefinition(def, kindSpecs);
    expect(r.ok && "$schema" in r.definition).toBe(false);
    expect(r.ok).toBe(true);
  });
});

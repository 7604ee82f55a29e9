import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../../src/engine/dag";
import { referencesIn } from "../../../src/engine/references";
import { kindSpecs } from "../../../src/nodes";

const errorsOf = (def: unknown) => {
  const r = validateDefinition(def, kindSpecs);
  return r.ok ? [] : r.errors;
};
const node = (
  id: string,
  needs: string[],
  config: Record<string, unknown>,
  kind = "http",
  extra: Record<string, unknown> = {},
) => ({ id, kind, needs, config, ...extra });

describe("referencesIn", () => {
  it("finds the node ids and input names an expression reads from the root, in any position", () => {
    expect(referencesIn("$uppercase(nodes.greet.output) & input.name")).toEqual({ nodes: ["greet"], inputs: ["name"] });
    expect(referencesIn("$exists(nodes.b.output) ? nodes.c.output[0].id : $$.nodes.d.output")).toEqual({
      nodes: ["b", "c", "d"],
      inputs: [],
    });
    expect(referencesIn('{"a": nodes.e.output, "b": item.x, "c": input.list.(nodes.f.output)}').nodes).toEqual([
      "e",
      "f",
    ]);
    expect(referencesIn("item.nodes.x & index").nodes).toEqual([]);
  });
});

describe("references are checked when a definition is saved", () => {
  it("refuses a node that does not exist, with the exact path and the nodes there are", () => {
    const errors = errorsOf({
      name: "typo",
      nodes: [
        node("fetch", [], { url: "https://a.example/x" }),
        node("post", ["fetch"], { url: "https://a.example/{{ nodes.fetc.output.body.id }}" }),
      ],
    });
    expect(errors).toEqual([
      { path: "nodes[1].config.url", message: "nodes.fetc is not a node of this workflow (nodes: fetch, post)" },
    ]);
  });

  it("refuses a node that exists but is not upstream, and says what to add to needs", () => {
    const errors = errorsOf({
      name: "not upstream",
      nodes: [
        node("fetch", [], { url: "https://a.example/x" }),
        node("side", [], { url: "https://a.example/y" }),
        node("post", ["side"], { url: "https://a.example/z", body: { id: "{{ nodes.fetch.output.body.id }}" } }),
      ],
    });
    expect(errors).toEqual([
      { path: "nodes[2].config.body.id", message: 'nodes.fetch is not upstream of "post"; add "fetch" to needs' },
    ]);
  });

  it("accepts transitive ancestors, and checks when, bare expressions and map item templates too", () => {
    const ok = {
      name: "chain",
      nodes: [
        node("a", [], { expression: "[1, 2]" }, "transform"),
        node("b", ["a"], { expression: "nodes.a.output" }, "transform"),
        node(
          "c",
          ["b"],
          {
            items: "nodes.a.output",
            node: { kind: "http", config: { url: "https://a.example/{{ item }}/{{ nodes.b.output[0] }}" } },
          },
          "map",
          { when: "$count(nodes.a.output) > 0" },
        ),
      ],
    };
    expect(errorsOf(ok)).toEqual([]);
    const bad = structuredClone(ok);
    bad.nodes[1] = node("b", ["a"], { expression: "nodes.c.output" }, "transform");
    (bad.nodes[2] as { when?: string }).when = "nodes.zz.output";
    (bad.nodes[2]?.config as { node: { config: { url: string } } }).node.config.url =
      "https://a.example/{{ nodes.c.output }}";
    expect(errorsOf(bad)).toEqual([
      { path: "nodes[1].config.expression", message: 'nodes.c is not upstream of "b"; add "c" to needs' },
      { path: "nodes[2].when", message: "nodes.zz is not a node of this workflow (nodes: a, b, c)" },
      { path: "nodes[2].config.node.config.url", message: 'node "c" cannot read its own output (nodes.c)' },
    ]);
  });

  it("checks input.* against the properties input_schema declares, and only when it declares them", () => {
    const def = (schema: unknown) => ({
      name: "input",
      input_schema: schema,
      nodes: [node("t", [], { expression: "input.nme" }, "transform")],
    });
    expect(errorsOf(def({ type: "object", properties: { name: { type: "string" } } }))).toEqual([
      { path: "nodes[0].config.expression", message: "input.nme is not a property of input_schema (properties: name)" },
    ]);
    expect(errorsOf(def({ type: "object" }))).toEqual([]);
  });

  it("refuses an optional input used where the strict rule needs a value, unless a default or a guard allows absence", () => {
    const schema = {
      type: "object",
      properties: { id: { type: "string" }, coupon: { type: "string" } },
      required: ["id"],
    };
    const def = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      name: "optional",
      input_schema: schema,
      nodes: [node("t", [], config, "transform", extra)],
    });
    const needsValue = (expression: string) =>
      `input.coupon is optional in input_schema but {{ ${expression} }} needs a value; add it to required, or allow absence with \`input.coupon ?? default\``;
    expect(errorsOf(def({ expression: '"Order " & input.id & " with " & input.coupon' }))).toEqual([
      { path: "nodes[0].config.expression", message: needsValue('"Order " & input.id & " with " & input.coupon') },
    ]);
    expect(errorsOf(def({ expression: '{"c": input.coupon}' }))).toEqual([
      { path: "nodes[0].config.expression", message: needsValue('{"c": input.coupon}') },
    ]);
    expect(errorsOf(def({ expression: "input.coupon" }))).toEqual([
      { path: "nodes[0].config.expression", message: needsValue("input.coupon") },
    ]);
    for (const allowed of [
      '"with " & (input.coupon ?? "none")',
      '$exists(input.coupon) ? "with " & input.coupon : "none"',
      "$count(input.coupon)",
      'input.coupon = "X"',
    ])
      expect(errorsOf(def({ expression: allowed })), allowed).toEqual([]);
    expect(errorsOf(def({ expression: '"with " & input.coupon' }, { when: "$exists(input.coupon)" }))).toEqual([]);
  });

  it("refuses a field of a model's structured answer that its json_schema does not declare (a rename read as empty)", () => {
    const llm = {
      id: "parse",
      kind: "llm",
      needs: [],
      config: {
        tier: "mid",
        messages: [{ role: "user", content: "x" }],
        response_format: "json",
        json_schema: { type: "object", properties: { outlet: { type: "string" }, items: { type: "array" } } },
      },
    };
    const reading = (expression: string) => ({
      name: "answer",
      nodes: [llm, node("use", ["parse"], { expression }, "transform")],
    });
    expect(
      errorsOf(reading("nodes.parse.output.json.outlet & $string($count(nodes.parse.output.json.items))")),
    ).toEqual([]);
    expect(errorsOf(reading("'at ' & nodes.parse.output.json.outlte"))).toEqual([
      {
        path: "nodes[1].config.expression",
        message:
          'nodes.parse.output.json.outlte: the answer\'s json_schema has no property "outlte" (properties: outlet, items)',
      },
    ]);
    // The text of the answer and its other fields are not the schema's.
    expect(errorsOf(reading("nodes.parse.output.text & nodes.parse.output.model"))).toEqual([]);
  });

  it("refuses a concurrency_key that reads a node: it is rendered before any node runs", () => {
    const errors = errorsOf({
      name: "key",
      concurrency_key: "{{ nodes.a.output }}",
      nodes: [node("a", [], { expression: "1" }, "transform")],
    });
    expect(errors).toEqual([
      { path: "concurrency_key", message: "nodes.a: this is rendered before any node runs, so it can read only input" },
    ]);
  });
});

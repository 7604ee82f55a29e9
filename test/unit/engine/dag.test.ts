import { describe, expect, it } from "vitest";
import { findCycle, MAX_NODES, validateDefinition } from "../../../src/engine/dag";
import { kindSpecs } from "../../../src/nodes";

const t = (id: string, needs: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  kind: "transform",
  needs,
  config: { expression: "1" },
  ...extra,
});
const errorsOf = (def: unknown) => {
  const r = validateDefinition(def, kindSpecs);
  if (r.ok) throw new Error("expected the definition to be rejected");
  return r.errors;
};

describe("definition validation", () => {
  it("accepts a valid DAG and fills defaults", () => {
    const r = validateDefinition({ name: "ok", nodes: [t("a"), t("b", ["a"])] }, kindSpecs);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.definition.timeout_seconds).toBe(7200);
      expect(r.definition.max_parallel).toBe(8);
      expect(r.definition.nodes[1]?.continue_on_failure).toBe(false);
    }
  });

  it("names the exact path of a bad id, a duplicate id and an unknown need", () => {
    const errors = errorsOf({ name: "x", nodes: [t("a"), t("a"), t("c", ["zzz"])] });
    expect(errors).toContainEqual({ path: "nodes[1].id", message: 'duplicate node id "a" (first at nodes[0])' });
    expect(errors).toContainEqual({ path: "nodes[2].needs[0]", message: 'unknown node "zzz"' });
    const bad = errorsOf({ name: "x", nodes: [t("has space")] });
    expect(bad[0]?.path).toBe("nodes[0].id");
  });

  it("rejects a cycle and names one", () => {
    const errors = errorsOf({ name: "x", nodes: [t("a", ["c"]), t("b", ["a"]), t("c", ["b"]), t("d")] });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe("nodes");
    expect(errors[0]?.message).toMatch(/^cycle in needs: /);
    const names = (errors[0]?.message.replace("cycle in needs: ", "") ?? "").split(" -> ");
    expect(names[0]).toBe(names.at(-1));
    expect(new Set(names)).toEqual(new Set(["a", "b", "c"]));
  });

  it("rejects a node that needs itself", () => {
    expect(errorsOf({ name: "x", nodes: [t("a", ["a"])] })).toContainEqual({
      path: "nodes[0].needs[0]",
      message: 'node "a" cannot need itself',
    });
  });

  it("caps the number of nodes", () => {
    const nodes = Array.from({ length: MAX_NODES + 1 }, (_, i) => t(`n${i}`));
    expect(errorsOf({ name: "x", nodes })[0]?.path).toBe("nodes");
    expect(validateDefinition({ name: "x", nodes: nodes.slice(0, MAX_NODES) }, kindSpecs).ok).toBe(true);
  });

  it("validates each node's config with its kind's schema", () => {
    const errors = errorsOf({
      name: "x",
      nodes: [
        { id: "h", kind: "http", config: { method: "BREW", url: "http://x" } },
        { id: "s", kind: "sleep", config: {} },
        { id: "k", kind: "teleport", config: {} },
      ],
    });
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining(["nodes[0].config.method", "nodes[1].config", "nodes[2].kind"]),
    );
  });

  it("parses expressions and templates up front", () => {
    const errors = errorsOf({
      name: "x",
      nodes: [
        t("a", [], { when: "input.(" }),
        { id: "b", kind: "transform", config: { expression: "$$$(" } },
        { id: "c", kind: "http", config: { url: "http://x/{{ nodes.a.output + }}", headers: { "x-y": "{{ ok }}" } } },
      ],
    });
    expect(errors.map((e) => e.path)).toEqual(["nodes[0].when", "nodes[1].config.expression", "nodes[2].config.url"]);
    expect(errors[0]?.message).toMatch(/^invalid expression: /);
  });

  it("rejects unknown fields and an invalid input_schema", () => {
    expect(errorsOf({ name: "x", nodes: [t("a")], colour: "blue" })[0]).toEqual({
      path: "colour",
      message: "Unknown field",
    });
    expect(errorsOf({ name: "x", nodes: [t("a")], input_schema: { type: 12 } })[0]?.path).toBe("input_schema");
  });
});

describe("findCycle", () => {
  it("returns null for a DAG", () => {
    expect(
      findCycle([
        { id: "a", needs: [] },
        { id: "b", needs: ["a"] },
      ]),
    ).toBeNull();
  });
  it("finds a two-node cycle behind an acyclic prefix", () => {
    expect(
      findCycle([
        { id: "a", needs: [] },
        { id: "b", needs: ["a", "c"] },
        { id: "c", needs: ["b"] },
      ]),
    ).toEqual(["b", "c", "b"]);
  });
});

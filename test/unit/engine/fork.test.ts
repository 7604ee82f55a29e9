import { describe, expect, it } from "vitest";
import type { Definition } from "../../../src/engine/dag";
import { hasSideEffects, mergePatch, planFork, type SourceNode } from "../../../src/engine/fork";

const def = {
  name: "d",
  nodes: [
    { id: "a", kind: "transform", needs: [], config: { expression: "1" } },
    { id: "b", kind: "llm", needs: ["a"], config: {} },
    { id: "c", kind: "http", needs: ["a"], config: { method: "POST" } },
    { id: "d", kind: "transform", needs: ["b", "c"], config: { expression: "1" } },
    { id: "e", kind: "email", needs: ["d"], config: {} },
  ],
} as unknown as Definition;
const done = (id: string, output: unknown = { id }, request_hash: string | null = null): SourceNode => ({
  id,
  status: "succeeded",
  output,
  request_hash,
});

describe("planFork", () => {
  it("keeps what is not downstream of from_node, reruns the cone, and lists reusable answers and mocks", () => {
    const nodes = [done("a"), done("b", { text: "x" }, "h-b"), done("c"), done("d"), done("e")];
    const plan = planFork("ex_src", def, { q: 1 }, nodes, { from_node: "b", effects: "mock" });
    expect(plan).toMatchObject({ ok: true, input: { q: 1 }, rerun: ["b", "d", "e"] });
    if (!plan.ok) return;
    expect(plan.seeds.map((s) => s.node_id)).toEqual(["a", "c"]);
    expect(plan.info.reuse).toEqual({ b: { request_hash: "h-b", output: { text: "x" } } });
    expect(plan.info.mocks).toEqual({ e: { output: { id: "e" } } });
  });

  it("keeps a patched from_node as finished, and allows effects when asked", () => {
    const nodes = [done("a"), done("b", { text: "x", model: "m" }), done("c"), done("d")];
    const plan = planFork("ex_src", def, {}, nodes, {
      from_node: "b",
      output_patch: { text: "y" },
      effects: "allow",
    });
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.seeds.find((s) => s.node_id === "b")).toEqual({
      node_id: "b",
      status: "succeeded",
      output: { text: "y", model: "m" },
      patched: true,
    });
    expect(plan.rerun).toEqual(["d", "e"]);
    expect(plan.info.mocks).toEqual({});
  });

  it("refuses an unknown node, a patch of an unfinished node, and a patch that breaks the output contract", () => {
    const nodes = [done("a"), { ...done("b"), status: "failed" as const, output: null }];
    expect(planFork("s", def, {}, nodes, { from_node: "zz", effects: "mock" })).toMatchObject({ code: "unknown_node" });
    expect(planFork("s", def, {}, nodes, { from_node: "b", output_patch: {}, effects: "mock" })).toMatchObject({
      code: "fork_node_not_finished",
    });
    const ok = [done("a"), done("b", { text: "x" })];
    expect(planFork("s", def, {}, ok, { from_node: "b", output_patch: { text: 3 }, effects: "mock" })).toMatchObject({
      code: "output_patch_invalid",
      errors: [{ path: "output_patch.text" }],
    });
  });
});

describe("mergePatch and hasSideEffects", () => {
  it("merges as RFC 7396 says: objects key by key, null deletes, arrays and scalars replace", () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, x: 1 }, e: [2], f: "g" })).toEqual({
      a: 1,
      b: { d: 3, x: 1 },
      e: [2],
      f: "g",
    });
    expect(mergePatch({ a: 1 }, "text")).toBe("text");
  });

  it("counts POST/PUT/PATCH/DELETE http, email, monitors, approvals, child workflows and maps of them as effects", () => {
    const n = (kind: string, config: object = {}) => ({ id: "x", kind, needs: [], config }) as never;
    expect(hasSideEffects(n("http"))).toBe(false);
    expect(hasSideEffects(n("http", { method: "HEAD" }))).toBe(false);
    expect(hasSideEffects(n("http", { method: "DELETE" }))).toBe(true);
    expect(hasSideEffects(n("email"))).toBe(true);
    expect(hasSideEffects(n("workflow"))).toBe(true);
    expect(hasSideEffects(n("llm"))).toBe(false);
    expect(hasSideEffects(n("map", { node: { kind: "http", config: { method: "POST" } } }))).toBe(true);
    expect(hasSideEffects(n("map", { node: { kind: "transform", config: {} } }))).toBe(false);
    // A child workflow acts when its definition does (told by the caller); one nobody vouched for counts as acting.
    const acts = (r: { workflow_id: string }) => r.workflow_id === "wf_posts";
    expect(hasSideEffects(n("workflow", { workflow_id: "wf_reads" }), acts)).toBe(false);
    expect(hasSideEffects(n("workflow", { workflow_id: "wf_posts" }), acts)).toBe(true);
    expect(hasSideEffects(n("map", { node: { kind: "workflow", config: { workflow_id: "wf_posts" } } }), acts)).toBe(
      true,
    );
  });
});

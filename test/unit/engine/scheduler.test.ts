import { describe, expect, it } from "vitest";
import { validateDefinition, type Definition } from "../../../src/engine/dag";
import type { NodeStatus } from "../../../src/engine/events";
import { holds, type ExprContext } from "../../../src/engine/expr";
import { dueWaits, nextWake, plan, type Condition, type NodeState } from "../../../src/engine/scheduler";
import { kindSpecs } from "../../../src/nodes";

function def(nodes: unknown[]): Definition {
  const r = validateDefinition({ name: "t", nodes }, kindSpecs);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.definition;
}
const n = (id: string, needs: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  kind: "transform",
  needs,
  config: { expression: "1" },
  ...extra,
});
function states(d: Definition, set: Record<string, NodeStatus | [NodeStatus, number]> = {}): Map<string, NodeState> {
  return new Map(
    d.nodes.map((x) => {
      const v = set[x.id] ?? "pending";
      const [status, due] = Array.isArray(v) ? v : [v, null];
      return [x.id, { id: x.id, status, attempt: 0, due_at: due }];
    }),
  );
}
const ctx = (input: unknown = {}, outputs: Record<string, unknown> = {}): ExprContext => ({
  input,
  nodes: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { status: "succeeded", output: v }])),
  execution: { id: "ex", workflow_id: "wf", version: 1 },
});
/** Plan as the shell drives it: answer every `evaluate` with the condition's value, then plan again. */
async function decide(d: Definition, s: Map<string, NodeState>, c: ExprContext, now: number) {
  const conditions = new Map<string, Condition>();
  for (;;) {
    const p = plan(d, s, conditions, now);
    if (p.evaluate.length === 0) return p;
    for (const e of p.evaluate)
      conditions.set(e.id, await holds(e.expr, c).catch((err: Error) => ({ error: err.message })));
  }
}

describe("plan", () => {
  it("readies roots, then dependents once every need is done", async () => {
    const d = def([n("a"), n("b"), n("c", ["a", "b"])]);
    expect((await decide(d, states(d), ctx(), 0)).ready).toEqual(["a", "b"]);
    expect((await decide(d, states(d, { a: "succeeded", b: "running" }), ctx(), 0)).ready).toEqual([]);
    expect((await decide(d, states(d, { a: "succeeded", b: "succeeded" }), ctx(), 0)).ready).toEqual(["c"]);
  });

  it("skips on a false condition and propagates the skip down the chain at once", async () => {
    const d = def([n("a", [], { when: "input.go = true" }), n("b", ["a"]), n("c", ["b"]), n("d")]);
    const p = await decide(d, states(d), ctx({ go: false }), 0);
    expect(p.ready).toEqual(["d"]);
    expect(p.skipped.map((s) => [s.id, s.reason])).toEqual([
      ["a", "condition_false"],
      ["b", "upstream_skipped"],
      ["c", "upstream_skipped"],
    ]);
  });

  it("runs a join after an optional branch that was skipped when it says on_skipped_need: run", async () => {
    const d = def([
      n("a"),
      n("optional", ["a"], { when: "false" }),
      n("join", ["a", "optional"], { on_skipped_need: "run" }),
      n("strict", ["optional"]),
    ]);
    const p = await decide(d, states(d, { a: "succeeded" }), ctx(), 0);
    expect(p.skipped.map((s) => [s.id, s.reason])).toEqual([
      ["optional", "condition_false"],
      ["strict", "upstream_skipped"],
    ]);
    expect(p.ready).toEqual(["join"]);
  });

  it("evaluates conditions over upstream outputs", async () => {
    const d = def([
      n("a"),
      n("big", ["a"], { when: "nodes.a.output > 10" }),
      n("small", ["a"], { when: "nodes.a.output <= 10" }),
    ]);
    const p = await decide(d, states(d, { a: "succeeded" }), ctx({}, { a: 42 }), 0);
    expect(p.ready).toEqual(["big"]);
    expect(p.skipped.map((s) => s.id)).toEqual(["small"]);
  });

  it("skips dependents of a failure unless the failed node continues on failure", async () => {
    const d = def([n("a"), n("b", ["a"]), n("x", [], { continue_on_failure: true }), n("y", ["x"])]);
    const p = await decide(d, states(d, { a: "failed", x: "failed" }), ctx(), 0);
    expect(p.skipped.map((s) => [s.id, s.reason])).toEqual([["b", "upstream_failed"]]);
    expect(p.ready).toEqual(["y"]);
  });

  it("reports the final status once every node is terminal", async () => {
    const d = def([n("a"), n("b", ["a"]), n("x", [], { continue_on_failure: true })]);
    const ok = await decide(d, states(d, { a: "succeeded", b: "skipped", x: "failed" }), ctx(), 0);
    expect(ok.done).toEqual({ status: "succeeded", failed_nodes: [] });
    const bad = await decide(d, states(d, { a: "failed", x: "succeeded" }), ctx(), 0);
    expect(bad.done).toEqual({ status: "failed", failed_nodes: ["a"] });
    expect(bad.skipped.map((s) => s.id)).toEqual(["b"]);
  });

  it("readies a retrying node only once its backoff has passed", async () => {
    const d = def([n("a")]);
    expect((await decide(d, states(d, { a: ["retrying", 100] }), ctx(), 99)).ready).toEqual([]);
    expect((await decide(d, states(d, { a: ["retrying", 100] }), ctx(), 100)).ready).toEqual(["a"]);
  });

  it("reports a condition that throws as that node's failure", async () => {
    const d = def([n("a", [], { when: "$error('boom')" }), n("b", ["a"])]);
    const p = await decide(d, states(d), ctx(), 0);
    expect(p.conditionFailed).toEqual([{ id: "a", message: "boom (at position 7)" }]);
    expect(p.skipped.map((s) => [s.id, s.reason])).toEqual([["b", "upstream_failed"]]);
    expect(p.done?.status).toBe("failed");
  });

  it("asks for a condition once its needs are done and keeps the node pending until it has the answer", () => {
    const d = def([n("a"), n("b", ["a"], { when: "nodes.a.output > 1" }), n("c", ["b"])]);
    expect(plan(d, states(d), new Map(), 0).evaluate).toEqual([]);
    const asked = plan(d, states(d, { a: "succeeded" }), new Map(), 0);
    expect(asked.evaluate).toEqual([{ id: "b", expr: "nodes.a.output > 1" }]);
    expect([asked.ready, asked.skipped, asked.done]).toEqual([[], [], undefined]);
    expect(plan(d, states(d, { a: "succeeded" }), new Map([["b", true]]), 0).ready).toEqual(["b"]);
  });
});

describe("timers", () => {
  it("finds due waits and the next wake-up", () => {
    const s: NodeState[] = [
      { id: "a", status: "waiting", attempt: 1, due_at: 50 },
      { id: "b", status: "retrying", attempt: 1, due_at: 30 },
      { id: "c", status: "succeeded", attempt: 1, due_at: 10 },
    ];
    expect(dueWaits(s, 50).map((x) => x.id)).toEqual(["a"]);
    expect(nextWake(s, [null, 40])).toBe(30);
    expect(nextWake(s, [20])).toBe(20);
    expect(nextWake([], [null])).toBeNull();
  });
});

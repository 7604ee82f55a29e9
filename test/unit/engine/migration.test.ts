import { describe, expect, it } from "vitest";
import type { Definition } from "../../../src/engine/dag";
import { nodeMapErrors, planMigration, type MigrationNode } from "../../../src/engine/migration";

const def = (nodes: { id: string; kind?: string; needs?: string[]; config?: object }[]) =>
  ({ name: "m", nodes: nodes.map((n) => ({ kind: "transform", needs: [], config: {}, ...n })) }) as Definition;
const at = (id: string, status: MigrationNode["status"], output: unknown = null): MigrationNode => ({
  id,
  status,
  output,
});

const v1 = def([{ id: "a" }, { id: "w", kind: "wait_for_event", needs: ["a"] }, { id: "b", needs: ["w"] }]);

describe("planMigration", () => {
  it("moves a run parked at a wait: a node inserted after it is added, a renamed one keeps its state", () => {
    const v2 = def([{ id: "a2" }, { id: "w", kind: "wait_for_event", needs: ["a2"] }, { id: "x", needs: ["w"] }]);
    const plan = planMigration(v1, v2, 2, { a: "a2" }, [at("a", "succeeded"), at("w", "waiting"), at("b", "pending")]);
    expect(plan).toEqual({
      movable: true,
      renamed: { a: "a2" },
      added: [{ id: "x", kind: "transform" }],
      removed: ["b"],
    });
  });

  it("blocks a run whose completed node is gone, whose waiting node changed, or that is mid-attempt", () => {
    const nodes = [at("a", "succeeded"), at("w", "waiting"), at("b", "pending")];
    const noA = def([
      { id: "w", kind: "wait_for_event" },
      { id: "b", needs: ["w"] },
    ]);
    expect(planMigration(v1, noA, 3, {}, nodes)).toEqual({
      movable: false,
      reason: 'completed node "a" is not in version 3 and "w" reads its output; map it with node_map or keep it',
    });
    const changed = def([{ id: "a" }, { id: "w", kind: "wait_for_event", needs: ["a"], config: { event: "x" } }]);
    expect(planMigration(v1, changed, 2, {}, nodes)).toMatchObject({
      reason: 'node "w" is waiting and changed in version 2',
    });
    expect(planMigration(v1, v1, 2, {}, [at("a", "running")])).toMatchObject({ movable: false });
  });

  it("blocks a node that has run when the new version puts a node that has not before it", () => {
    const before = def([{ id: "n" }, { id: "a", needs: ["n"] }, { id: "w", kind: "wait_for_event", needs: ["a"] }]);
    expect(planMigration(v1, before, 2, {}, [at("a", "succeeded"), at("w", "waiting")])).toMatchObject({
      reason: `"a" has run, but version 2 puts "n" before it, which has not`,
    });
  });

  it("checks node_map: known ids, one target each, the same kind", () => {
    const v2 = def([{ id: "a" }, { id: "w", kind: "wait_for_event" }]);
    expect(nodeMapErrors(v1, v2, { a: "w" })).toEqual([
      { path: "node_map.a", message: '"a" is a transform node and "w" a wait_for_event node' },
    ]);
    expect(nodeMapErrors(v1, v2, { zz: "a", b: "a" })).toHaveLength(2);
  });
});

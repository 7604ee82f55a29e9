// Moving a running or waiting execution to another version of its workflow without re-running anything: whether it
// can move (decided from a structural diff of the two definitions against the execution's node states) and, if so,
// which nodes are renamed, added and dropped. Pure: the ExecutionObject applies the plan in one turn.
import type { Definition, FieldError, NodeDef } from "./dag";
import type { NodeStatus } from "./events";
import { outputContractErrors } from "./fork";

export interface MigrationNode {
  id: string;
  status: NodeStatus;
  output: unknown;
}

export type MigrationPlan =
  | {
      movable: true;
      /** Old id → new id, for nodes whose id changes (node_map). */
      renamed: Record<string, string>;
      /** Nodes of the new version the execution did not have: they start pending. */
      added: { id: string; kind: string }[];
      /** Nodes the new version does not have; none of them had run. */
      removed: string[];
    }
  | { movable: false; reason: string };

const DONE: ReadonlySet<NodeStatus> = new Set(["succeeded", "skipped", "failed", "cancelled"]);
const IN_FLIGHT: ReadonlySet<NodeStatus> = new Set(["running", "retrying"]);

/** The request's node_map checked against both versions: known ids on each side, one target each, the same kind. */
export function nodeMapErrors(from: Definition, to: Definition, nodeMap: Record<string, string>): FieldError[] {
  const fromIds = new Map(from.nodes.map((n) => [n.id, n]));
  const toIds = new Map(to.nodes.map((n) => [n.id, n]));
  const errors: FieldError[] = [];
  const targets = new Set<string>();
  for (const [oldId, newId] of Object.entries(nodeMap)) {
    const path = `node_map.${oldId}`;
    const a = fromIds.get(oldId);
    const b = toIds.get(newId);
    if (!a) errors.push({ path, message: `no node "${oldId}" in the version migrated from` });
    else if (!b) errors.push({ path, message: `no node "${newId}" in the version migrated to` });
    else if (a.kind !== b.kind)
      errors.push({ path, message: `"${oldId}" is a ${a.kind} node and "${newId}" a ${b.kind} node` });
    if (targets.has(newId)) errors.push({ path, message: `"${newId}" is the target of two nodes` });
    targets.add(newId);
  }
  return errors;
}

/** A node's definition without its id and needs (renamed in a map, checked on their own): what it does. */
const behaviour = (d: NodeDef): string => JSON.stringify({ ...d, id: undefined, needs: undefined });

/** Can an execution at these node states move from `from` to `to` (node_map renaming), and how. */
export function planMigration(
  from: Definition,
  to: Definition,
  toVersion: number,
  nodeMap: Record<string, string>,
  nodes: readonly MigrationNode[],
): MigrationPlan {
  const blocked = (reason: string): MigrationPlan => ({ movable: false, reason });
  const target = (id: string) => nodeMap[id] ?? id;
  const fromDefs = new Map(from.nodes.map((n) => [n.id, n]));
  const toDefs = new Map(to.nodes.map((n) => [n.id, n]));
  const state = new Map<string, MigrationNode>();
  const readers = (id: string) => from.nodes.filter((n) => n.needs.includes(id)).map((n) => `"${n.id}"`);
  for (const n of nodes) {
    const next = toDefs.get(target(n.id));
    const before = fromDefs.get(n.id);
    if (next) state.set(next.id, n);
    if (DONE.has(n.status)) {
      if (!next) {
        const read = readers(n.id);
        return blocked(
          `completed node "${n.id}" is not in version ${toVersion}${read.length ? ` and ${read.join(", ")} read${read.length > 1 ? "" : "s"} its output` : ""}; map it with node_map or keep it`,
        );
      }
      if (before && before.kind !== next.kind)
        return blocked(
          `completed node "${n.id}" is a ${before.kind} node and a ${next.kind} node in version ${toVersion}`,
        );
      const wrong = n.status === "succeeded" ? outputContractErrors(next, n.output, "output") : [];
      if (wrong.length)
        return blocked(
          `the recorded output of "${n.id}" does not fit version ${toVersion}: ${wrong.map((e) => `${e.path} ${e.message}`).join("; ")}`,
        );
    } else if (IN_FLIGHT.has(n.status)) {
      return blocked(`node "${n.id}" is ${n.status}; an execution moves between attempts, not during one`);
    } else if (n.status === "waiting") {
      if (!next) return blocked(`node "${n.id}" is waiting and is not in version ${toVersion}`);
      // What it waits for (a child, a map's items, an event) is filed under its id.
      if (next.id !== n.id) return blocked(`node "${n.id}" is waiting: it cannot be renamed until it has finished`);
      if (before?.kind === "map")
        return blocked(`map node "${n.id}" has items in flight; migrate once it has finished`);
      if (before && behaviour(before) !== behaviour(next))
        return blocked(`node "${n.id}" is waiting and changed in version ${toVersion}`);
    }
  }
  // What has run (or waits) in the new version must have run after everything it now needs.
  for (const d of to.nodes) {
    const n = state.get(d.id);
    if (!n || n.status === "pending") continue;
    for (const need of d.needs) {
      const s = state.get(need)?.status;
      if (!s || !DONE.has(s))
        return blocked(
          `"${d.id}" has ${n.status === "waiting" ? "started" : "run"}, but version ${toVersion} puts "${need}" before it, which has not`,
        );
    }
  }
  const renamed = Object.fromEntries(
    nodes.filter((n) => target(n.id) !== n.id && toDefs.has(target(n.id))).map((n) => [n.id, target(n.id)]),
  );
  const added = to.nodes.filter((d) => !state.has(d.id)).map((d) => ({ id: d.id, kind: d.kind }));
  const removed = nodes.filter((n) => !toDefs.has(target(n.id))).map((n) => n.id);
  return { movable: true, renamed, added, removed };
}

/** What one execution's object answers a migration: the plan, and whether it moved now. */
export type MigrationAnswer = { execution_id: string; moved: boolean } & (
  | { movable: true; renamed: Record<string, string>; added: string[]; removed: string[] }
  | { movable: false; reason: string }
);

/** What POST /v1/workflows/:id/migrations answers: the counts, and each execution's answer. */
export interface MigrationReport {
  workflow_id: string;
  from: number;
  to: number;
  dry_run: boolean;
  total: number;
  movable: number;
  blocked: number;
  moved: number;
  /** More unfinished executions of `from` than one request asks (10,000). */
  truncated: boolean;
  executions: MigrationAnswer[];
}

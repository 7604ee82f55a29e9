// What changed between two runs of a workflow (a fork and its source, or any two): per node unchanged, changed, new,
// skipped or removed, the output paths that differ, and the difference in what the model calls cost. Pure.
import type { ExecutionView } from "./views";

export type NodeDiffStatus = "unchanged" | "changed" | "new" | "skipped" | "removed";

export interface OutputChange {
  /** A JSONPath-like location in the output ("$" is the whole output). */
  path: string;
  before: unknown;
  after: unknown;
}

export interface NodeDiff {
  node_id: string;
  status: NodeDiffStatus;
  /** The node's status in each run (null where it has no such node). */
  against_status: string | null;
  this_status: string | null;
  changes: OutputChange[];
  /** More output paths differ than are listed. */
  changes_truncated: boolean;
}

/** At most this many changed paths per node: enough to read, bounded for a huge output. */
export const MAX_CHANGES = 50;

type Nodes = Pick<ExecutionView, "nodes">["nodes"];

export function diffRuns(current: Nodes, against: Nodes): NodeDiff[] {
  const before = new Map(against.map((n) => [n.node_id, n]));
  const out: NodeDiff[] = [];
  for (const n of current) {
    const b = before.get(n.node_id);
    const changes: OutputChange[] = [];
    let status: NodeDiffStatus;
    if (!b) status = "new";
    else if (n.status === "skipped") status = b.status === "skipped" ? "unchanged" : "skipped";
    else {
      collect(b.output ?? null, n.output ?? null, "$", changes);
      status = changes.length === 0 && n.status === b.status ? "unchanged" : "changed";
    }
    out.push(entry(n.node_id, status, b?.status ?? null, n.status, changes));
  }
  const here = new Set(current.map((n) => n.node_id));
  for (const b of against) if (!here.has(b.node_id)) out.push(entry(b.node_id, "removed", b.status, null, []));
  return out;
}

function entry(
  node_id: string,
  status: NodeDiffStatus,
  against_status: string | null,
  this_status: string | null,
  changes: OutputChange[],
): NodeDiff {
  return {
    node_id,
    status,
    against_status,
    this_status,
    changes: changes.slice(0, MAX_CHANGES),
    changes_truncated: changes.length > MAX_CHANGES,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** The paths where two JSON values differ, leaves first found first; stops collecting past MAX_CHANGES + 1. */
function collect(before: unknown, after: unknown, path: string, into: OutputChange[]): void {
  if (into.length > MAX_CHANGES) return;
  if (isObject(before) && isObject(after)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)]))
      collect(before[k], after[k], `${path}.${k}`, into);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((v, i) => collect(v, after[i], `${path}[${i}]`, into));
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after))
    into.push({ path, before: before === undefined ? null : before, after: after === undefined ? null : after });
}

// The one fold of an execution's event log into what a client shows: every node's state and the run's status, at
// any seq. The dashboard (live view and time scrubber) and the CLI (`edgeflow watch`) both fold with this, and every
// test that waits for a run holds it to the server's own view (test/support/fold-check.ts). Plain JavaScript, so the
// CLI runs it on Node 20 as it is; its types are fold.d.mts.

const FINISHED = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
const blankNode = {
  status: "pending",
  kind: null,
  attempts: 0,
  started_at: null,
  finished_at: null,
  next_attempt_at: null,
  waiting_for: null,
  error: null,
  skipped: null,
  child: null,
  output: null,
  items: null,
};
/** A run before its first event: every node pending. */
function emptyRun(nodeIds) {
  return {
    seq: 0,
    status: "queued",
    started_at: null,
    finished_at: null,
    error: null,
    nodes: Object.fromEntries(nodeIds.map((id) => [id, blankNode])),
  };
}
const str = (v) => (typeof v === "string" ? v : null);
const problem = (v) =>
  v && typeof v === "object" && "code" in v
    ? { code: String(v.code), message: String(Reflect.get(v, "message")) }
    : null;
const counts = (v) => (v && typeof v === "object" ? v : null);
/** A node's state after one of its events. */
function nodeAfter(n, e) {
  const d = e.data;
  switch (e.type) {
    case "node.started":
      return {
        ...n,
        status: "running",
        kind: str(d.kind) ?? n.kind,
        attempts: e.attempt ?? n.attempts + 1,
        started_at: n.started_at ?? e.at,
        finished_at: null,
        next_attempt_at: null,
        waiting_for: null,
        error: null,
      };
    case "node.retrying":
      return { ...n, status: "retrying", error: problem(d.error), next_attempt_at: str(d.next_attempt_at) };
    case "node.waiting":
      return {
        ...n,
        status: "waiting",
        waiting_for: { event: str(d.event), until: str(d.until), ...(d.detail ? { detail: d.detail } : {}) },
        // An agent's children are its tools' business; a workflow node's one child is the node's link.
        child: n.kind === "workflow" ? (str(d.child?.execution_id) ?? n.child) : null,
        items: counts(d.items) ?? n.items,
      };
    case "node.succeeded":
      return {
        ...n,
        status: "succeeded",
        output: d.output ?? null,
        finished_at: e.at,
        waiting_for: null,
        items: counts(d.items) ?? n.items,
        // A workflow node's output names its child: also one a fork kept or mocked, whose child is the source's.
        child: n.kind === "workflow" ? (str(d.output?.execution_id) ?? n.child) : n.child,
      };
    case "node.failed":
      return {
        ...n,
        status: "failed",
        error: problem(d.error),
        finished_at: e.at,
        waiting_for: null,
        next_attempt_at: null,
        items: counts(d.items) ?? n.items,
      };
    case "node.skipped":
      return {
        ...n,
        status: "skipped",
        skipped: { reason: String(d.reason), detail: d.detail ?? null },
        finished_at: e.at,
      };
    case "node.cancelled":
      return { ...n, status: "cancelled", finished_at: e.at, waiting_for: null, next_attempt_at: null };
    case "node.progress":
      // "resumed": a parked map, or an agent whose approval or child came, runs again in the same attempt.
      return d.reason === "resumed"
        ? { ...n, status: "running", waiting_for: null, items: counts(d.items) ?? n.items }
        : { ...n, items: counts(d.items) ?? n.items };
    default:
      return n;
  }
}
/** Apply one event to `run` in place (its nodes record is replaced per node, never mutated inside a node). */
function applyInPlace(run, e) {
  if (e.type.startsWith("execution.")) {
    const what = e.type.slice("execution.".length);
    if (what === "migrated") {
      // Moved to another version: nodes keep their state under their new names; added ones start pending.
      const nodes = { ...run.nodes };
      for (const [from, to] of Object.entries(e.data.renamed ?? {})) {
        nodes[to] = nodes[from] ?? blankNode;
        delete nodes[from];
      }
      for (const id of e.data.removed ?? []) delete nodes[id];
      for (const id of e.data.added ?? []) nodes[id] = blankNode;
      run.nodes = nodes;
      return;
    }
    if (what === "redriven") {
      for (const id of e.data.reset ?? []) run.nodes[id] = { ...blankNode, attempts: run.nodes[id]?.attempts ?? 0 };
      // A redriven run starts again (as the server's view says); its first start is in the log above.
      run.started_at = null;
      run.finished_at = null;
      run.error = null;
    }
    run.status = what === "resumed" || what === "started" ? "running" : what === "redriven" ? "queued" : what;
    if (what === "started") run.started_at ??= e.at;
    if (FINISHED.has(what)) {
      run.finished_at = e.at;
      // A cancelled run says why too; a succeeded one has none.
      run.error = problem(e.data.error);
    }
    return;
  }
  if (e.node_id && e.type.startsWith("node.")) run.nodes[e.node_id] = nodeAfter(run.nodes[e.node_id] ?? blankNode, e);
}
/** One event applied to the run (a new object; the old one is what the scrubber may still show). */
function applyEvent(run, e) {
  if (e.seq <= run.seq) return run;
  const next = { ...run, nodes: { ...run.nodes } };
  applyInPlace(next, e);
  next.seq = e.seq;
  return next;
}
/** The run after every event with seq <= upTo (all of them when upTo is omitted); one copy, however long the log. */
function replay(nodeIds, events, upTo = Infinity) {
  const run = emptyRun(nodeIds);
  for (const e of events) {
    if (e.seq > upTo) break;
    if (e.seq <= run.seq) continue;
    applyInPlace(run, e);
    run.seq = e.seq;
  }
  return run;
}
export { applyEvent, blankNode, emptyRun, nodeAfter, replay };

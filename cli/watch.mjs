// `edgeflow watch`: an execution's progress in the terminal from its SSE stream. In a terminal, one line per node
// redrawn in place (status, attempt, duration, a bar for map nodes); in a pipe or a CI log, one plain line per
// change and no escape codes. The exit code is the run's outcome.
import { applyEvent, emptyRun } from "../src/engine/fold.mjs";

const MARK = {
  pending: "·",
  running: "▶",
  retrying: "↻",
  waiting: "…",
  succeeded: "✔",
  failed: "✘",
  skipped: "-",
  cancelled: "■",
};

export function seconds(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function bar(items, width = 20) {
  const total = items.total ?? 0;
  const done = (items.succeeded ?? 0) + (items.failed ?? 0) + (items.cancelled ?? 0);
  const filled = total ? Math.round((width * done) / total) : 0;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}${items.failed ? ` (${items.failed} failed)` : ""}`;
}

/**
 * What the terminal shows: the engine's one fold of the event log (src/engine/fold.mjs, the dashboard's too), and a
 * plain line for each change worth one.
 */
export class RunView {
  constructor(view, nodeIds) {
    this.id = view.id;
    this.workflow = `${view.workflow_id} v${view.version}`;
    this.run = {
      ...emptyRun(nodeIds),
      status: view.status,
      started_at: view.started_at,
      finished_at: view.finished_at,
      error: view.error,
    };
  }

  get status() {
    return this.run.status;
  }

  /** The snapshot is the authority on how it ended (and why, when it failed). */
  settle(view) {
    this.run = { ...this.run, status: view.status, error: view.error, finished_at: view.finished_at };
  }

  /** Apply one event; returns the plain-text line describing the change, or null when nothing worth a line changed. */
  apply(e) {
    const before = this.run;
    this.run = applyEvent(before, e);
    if (this.run === before) return null;
    if (e.type.startsWith("execution.")) return `execution ${e.type.slice("execution.".length)}`;
    const id = e.node_id;
    const n = id ? this.run.nodes[id] : undefined;
    if (!n || !e.type.startsWith("node.") || e.type === "node.delta" || !(id in before.nodes)) return null;
    if (e.type === "node.progress") {
      if (e.data.reason === "resumed" && !e.data.items) return `${id} running (resumed)`;
      const was = before.nodes[id]?.items;
      return n.items && (!was || bar(n.items) !== bar(was)) ? `${id} ${bar(n.items)}` : null;
    }
    const ended = n.status === "succeeded" || n.status === "failed";
    const took = ended ? ` ${seconds(Date.parse(n.finished_at) - Date.parse(n.started_at))}` : "";
    const attempt = n.attempts > 1 || n.status === "retrying" ? ` (attempt ${n.attempts})` : "";
    const note = noteOf(n);
    return `${id} ${n.status}${attempt}${took}${note ? ` ${note}` : ""}`;
  }

  /** The whole block as terminal lines (redrawn in place). */
  lines(now = Date.now()) {
    const ms = (iso) => (iso ? Date.parse(iso) : null);
    const width = Math.max(4, ...Object.keys(this.run.nodes).map((id) => id.length));
    const rows = Object.entries(this.run.nodes).map(([id, n]) => {
      const took = n.started_at ? seconds((ms(n.finished_at) ?? now) - ms(n.started_at)) : "";
      const attempt = n.attempts > 1 ? `attempt ${n.attempts}` : "";
      const items = n.items ? bar(n.items) : "";
      return `  ${MARK[n.status] ?? "?"} ${id.padEnd(width)}  ${n.status.padEnd(9)} ${took.padStart(8)}  ${[attempt, items, noteOf(n)].filter(Boolean).join("  ")}`.trimEnd();
    });
    const r = this.run;
    const elapsed = r.started_at ? seconds((ms(r.finished_at) ?? now) - ms(r.started_at)) : "";
    return [`${this.id} (${this.workflow}): ${r.status}${elapsed ? ` ${elapsed}` : ""}`, ...rows];
  }
}

/** What a node's state says beyond its status: why it waits, what failed, why it was skipped. */
function noteOf(n) {
  if (n.status === "retrying") return `${n.error?.code ?? "error"}; next attempt ${clock(n.next_attempt_at)}`;
  if (n.status === "failed") return `${n.error?.code ?? "error"}: ${n.error?.message ?? ""}`;
  if (n.status === "skipped") return n.skipped?.reason ?? "";
  if (n.status !== "waiting" || !n.waiting_for) return "";
  const { event, until, detail } = n.waiting_for;
  if (detail?.approval?.tool) return `waiting for approval of ${detail.approval.tool}: send "${event}"`;
  if (detail?.approval) return `waiting for approval "${detail.approval.title}" (edgeflow: GET /v1/approvals)`;
  if (detail?.ask) return `waiting for an answer to ${detail.ask.tool}: send "${event}"`;
  if (n.child && event?.startsWith("child:")) return "waiting for its child run";
  if (event) return `waiting for "${event}"`;
  return until ? `until ${clock(until)}` : "";
}

const clock = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "?");

/** Follow an execution to its end; resolves to the exit code (0 succeeded, 1 any other end). */
export async function watch(api, executionId, out = process.stdout) {
  const view = await api.get(`/v1/executions/${encodeURIComponent(executionId)}`);
  const wf = await api.get(`/v1/workflows/${view.workflow_id}?version=${view.version}`);
  const run = new RunView(
    view,
    wf.definition.nodes.map((n) => n.id),
  );
  const tty = Boolean(out.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  let drawn = 0;
  const draw = () => {
    const lines = run.lines();
    // Up to the top of the block, then each line cleared and rewritten.
    let text = drawn ? `\x1b[${drawn}A` : "";
    for (const line of lines) text += `\x1b[2K${colour(line)}\n`;
    out.write(text);
    drawn = lines.length;
  };
  if (!tty) out.write(`${run.id} (${run.workflow})\n`);
  const ticker = tty ? setInterval(draw, 250) : null;
  try {
    // The stream replays from seq 0, so the view is built from the whole log even when the run is already over, and
    // the server ends it when the execution finishes (a redriven run's earlier end is only a line in the log).
    for await (const e of api.events(executionId, 0)) {
      const line = run.apply(e);
      if (tty) draw();
      else if (line) out.write(`${e.at.slice(11, 23)} ${line}\n`);
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  // The snapshot is the authority on how it ended (and why, when it failed).
  run.settle(await api.get(`/v1/executions/${encodeURIComponent(executionId)}`));
  if (tty) draw();
  const { started_at: from, finished_at: to, error } = run.run;
  const elapsed = from && to ? ` in ${seconds(Date.parse(to) - Date.parse(from))}` : "";
  const why = error ? `: ${error.code}: ${error.message}` : "";
  if (!tty || run.status !== "succeeded") out.write(`execution ${run.id} ${run.status}${elapsed}${why}\n`);
  return run.status === "succeeded" ? 0 : 1;
}

function colour(line) {
  const c = line.includes(" succeeded")
    ? 32
    : line.includes(" failed") || line.includes(" timed_out")
      ? 31
      : line.includes(" running") || line.includes(" retrying")
        ? 33
        : 0;
  return c ? `\x1b[${c}m${line}\x1b[0m` : line;
}

// `edgeflow watch`: an execution's progress in the terminal from its SSE stream. In a terminal, one line per node
// redrawn in place (status, attempt, duration, a bar for map nodes); in a pipe or a CI log, one plain line per
// change and no escape codes. The exit code is the run's outcome.
const FINISHED = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
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

/** What the terminal shows, folded from the event log: per node its status, attempt, times and map items. */
export class RunView {
  constructor(view, nodeIds) {
    this.id = view.id;
    this.workflow = `${view.workflow_id} v${view.version}`;
    this.status = view.status;
    this.error = view.error;
    this.startedAt = view.started_at ? Date.parse(view.started_at) : null;
    this.finishedAt = view.finished_at ? Date.parse(view.finished_at) : null;
    this.nodes = new Map(
      nodeIds.map((id) => [
        id,
        { status: "pending", attempt: 0, started: null, finished: null, items: null, note: "" },
      ]),
    );
  }

  /** Apply one event; returns the plain-text line describing the change, or null when nothing worth a line changed. */
  apply(e) {
    const at = Date.parse(e.at);
    if (e.type.startsWith("execution.")) {
      const status = e.type.slice("execution.".length);
      this.status =
        status === "resumed" || status === "started" ? "running" : status === "redriven" ? "queued" : status;
      if (status === "started") this.startedAt ??= at;
      if (status === "redriven") {
        this.finishedAt = null;
        for (const id of e.data.reset ?? []) {
          const n = this.nodes.get(id);
          if (n) Object.assign(n, { status: "pending", started: null, finished: null, items: null, note: "" });
        }
      }
      if (FINISHED.has(status)) this.finishedAt = at;
      if (status === "failed" || status === "timed_out") this.error = e.data.error ?? this.error;
      return `execution ${status}`;
    }
    const n = e.node_id ? this.nodes.get(e.node_id) : undefined;
    if (!n || !e.type.startsWith("node.")) return null;
    const what = e.type.slice("node.".length);
    if (what === "progress" && e.data.reason === "resumed") {
      // A parked map, or an agent whose approval or child came, goes on in the same attempt.
      n.status = "running";
      n.note = "";
      if (!e.data.items) return `${e.node_id} running (resumed)`;
    }
    if (what === "progress") {
      const before = n.items ? bar(n.items) : "";
      n.items = e.data.items ?? n.items;
      return n.items && bar(n.items) !== before ? `${e.node_id} ${bar(n.items)}` : null;
    }
    if (what === "delta") return null;
    n.status = what === "started" ? "running" : what;
    if (what === "started") {
      n.attempt = e.attempt ?? n.attempt + 1;
      n.started ??= at;
      n.finished = null;
      n.note = "";
    }
    if (e.data.items) n.items = e.data.items;
    if (what === "retrying") n.note = `${e.data.error?.code ?? "error"}; next attempt ${clock(e.data.next_attempt_at)}`;
    if (what === "waiting")
      n.note = e.data.detail?.approval
        ? `waiting for approval of ${e.data.detail.approval.tool}: send "${e.data.event}"`
        : e.data.detail?.ask
          ? `waiting for an answer to ${e.data.detail.ask.tool}: send "${e.data.event}"`
          : e.data.child
            ? "waiting for its child run"
            : e.data.event
              ? `waiting for "${e.data.event}"`
              : e.data.until
                ? `until ${clock(e.data.until)}`
                : "";
    if (what === "failed") n.note = `${e.data.error?.code ?? "error"}: ${e.data.error?.message ?? ""}`;
    if (what === "skipped") n.note = e.data.reason ?? "";
    if (["succeeded", "failed", "skipped", "cancelled"].includes(what)) n.finished = at;
    if (what === "succeeded" || what === "cancelled") n.note = "";
    const took = what === "succeeded" || what === "failed" ? ` ${seconds(n.finished - n.started)}` : "";
    const attempt = n.attempt > 1 || what === "retrying" ? ` (attempt ${n.attempt})` : "";
    return `${e.node_id} ${n.status}${attempt}${took}${n.note ? ` ${n.note}` : ""}`;
  }

  /** The whole block as terminal lines (redrawn in place). */
  lines(now = Date.now()) {
    const width = Math.max(4, ...[...this.nodes.keys()].map((id) => id.length));
    const rows = [...this.nodes].map(([id, n]) => {
      const took = n.started ? seconds((n.finished ?? now) - n.started) : "";
      const attempt = n.attempt > 1 ? `attempt ${n.attempt}` : "";
      const items = n.items ? bar(n.items) : "";
      return `  ${MARK[n.status] ?? "?"} ${id.padEnd(width)}  ${n.status.padEnd(9)} ${took.padStart(8)}  ${[attempt, items, n.note].filter(Boolean).join("  ")}`.trimEnd();
    });
    const elapsed = this.startedAt ? seconds((this.finishedAt ?? now) - this.startedAt) : "";
    return [`${this.id} (${this.workflow}): ${this.status}${elapsed ? ` ${elapsed}` : ""}`, ...rows];
  }
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
  const final = await api.get(`/v1/executions/${encodeURIComponent(executionId)}`);
  run.status = final.status;
  run.error = final.error;
  if (tty) draw();
  const elapsed = run.startedAt && run.finishedAt ? ` in ${seconds(run.finishedAt - run.startedAt)}` : "";
  const why = run.error ? `: ${run.error.code}: ${run.error.message}` : "";
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

// Node and execution transitions inside one reducer step. Each transition changes the state and emits exactly one
// event (the event log is what clients fold); what must happen outside is pushed as a command.
import { childIdOf } from "../child";
import { TERMINAL_NODE, executionEventType, type EventType, type ExecutionStatus } from "../events";
import type { EventData } from "../event-schema";
import { DEFAULT_RETRY_POLICY, decideRetry, type AttemptError } from "../retry";
import type { RunCommand, StepResult } from "./messages";
import { nodeRecord, type NodeRecord, type RunState } from "./state";

/** One step in progress: the state it changes, the clock and randomness it was given, and what it has produced. */
export class Step {
  readonly commands: RunCommand[] = [];
  readonly changedNodes = new Set<string>();
  execChanged = false;
  again = false;
  refused: { code: string; message: string } | undefined;

  constructor(
    readonly s: RunState,
    readonly now: number,
    readonly random: () => number,
  ) {}

  node(id: string): NodeRecord {
    return nodeRecord(this.s, id);
  }

  result(): StepResult {
    const r: StepResult = {
      state: this.s,
      commands: this.commands,
      changedNodes: this.changedNodes,
      execChanged: this.execChanged,
      again: this.again,
    };
    if (this.refused) r.refused = this.refused;
    return r;
  }

  emit<T extends EventType>(type: T, node: NodeRecord | null, data: EventData<T>): void {
    const exec = this.s.exec;
    const seq = ++this.s.lastSeq;
    const attempt = node ? node.attempt : null;
    if (node) {
      node.seq = seq;
      this.changedNodes.add(node.id);
    }
    // The first unprojected change arms the projection; node events otherwise leave the execution row alone.
    if (exec.flush_due_at === null) {
      exec.flush_due_at = this.now + this.s.settings.projectionFlushMs;
      this.execChanged = true;
    }
    if (!node) this.execChanged = true;
    this.commands.push({ type: "emit", event: { seq, type, nodeId: node?.id ?? null, attempt, at: this.now, data } });
  }
}

/**
 * A node.delta takes its place in the log like any event, but changes no row: the node keeps its seq (its projection
 * is not due again for streamed text) and the projection is not armed by it.
 */
export function emitDelta(st: Step, node: NodeRecord, text: string, offset: number): void {
  const seq = ++st.s.lastSeq;
  st.commands.push({
    type: "emit",
    event: { seq, type: "node.delta", nodeId: node.id, attempt: node.attempt, at: st.now, data: { text, offset } },
  });
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function startAttempt(st: Step, node: NodeRecord): void {
  node.attempt += 1;
  node.status = "running";
  node.due_at = null;
  node.started_at ??= st.now;
  st.emit("node.started", node, { kind: node.kind });
  st.commands.push({ type: "launchAttempt", nodeId: node.id, attempt: node.attempt, resume: false });
}

/**
 * Kinds whose wait does not end the node: an agent waits for an approval or a child mid-loop, then goes on with the
 * same attempt, replaying its recorded steps up to there.
 */
export const RESUMING_KINDS: ReadonlySet<string> = new Set(["agent"]);

/**
 * A waiting node of a resuming kind woke (its event came, its child ended, its wait timed out): the same attempt runs
 * again, and finds what woke it recorded as the step `wake:<key>` (written by the shell with this step's writes).
 */
export function resumeNode(st: Step, node: NodeRecord, key: string, value: unknown): void {
  Object.assign(node, { status: "running", due_at: null, wait_event: null });
  st.emit("node.progress", node, { reason: "resumed", wake: key });
  st.commands.push({ type: "recordWake", nodeId: node.id, key, value });
  // A parked run runs nothing before it has its slot back: the tick resumes the attempt then (running, not in flight).
  if (st.s.exec.parked === null)
    st.commands.push({ type: "launchAttempt", nodeId: node.id, attempt: node.attempt, resume: true });
}

/** `extra` rides on the event: a map node's final item counts, so a client folding events ends on the right ones. */
export function succeedNode(st: Step, node: NodeRecord, output: unknown, extra: Record<string, unknown> = {}): void {
  Object.assign(node, {
    status: "succeeded",
    output: output ?? null,
    due_at: null,
    finished_at: st.now,
    error_code: null,
    error_message: null,
  });
  st.emit("node.succeeded", node, { output: node.output, ...extra });
}

export function failNode(
  st: Step,
  node: NodeRecord,
  error: AttemptError,
  reason: string,
  extra: Record<string, unknown> = {},
): void {
  Object.assign(node, {
    status: "failed",
    due_at: null,
    finished_at: st.now,
    error_code: error.code,
    error_message: error.message,
  });
  st.emit("node.failed", node, { error, reason, ...extra });
}

export function skipNode(st: Step, node: NodeRecord, reason: string, detail: string): void {
  Object.assign(node, { status: "skipped", due_at: null, finished_at: st.now });
  st.emit("node.skipped", node, { reason, detail });
}

/** A failed attempt: retried after the policy's backoff, or the node fails for good. */
export function failOrRetry(st: Step, node: NodeRecord, attempt: number, error: AttemptError): void {
  const policy = st.s.defs.get(node.id)?.retry ?? DEFAULT_RETRY_POLICY;
  const decision = decideRetry(policy, attempt - node.attempt_base - node.deferrals, error, st.random);
  if (!decision.retry) return failNode(st, node, error, decision.reason);
  // A deferred attempt made no call: the next one keeps its number under the policy, and its Idempotency-Key.
  if (decision.deferred) node.deferrals += 1;
  Object.assign(node, {
    status: "retrying",
    due_at: st.now + decision.delay_ms,
    wait_event: null,
    error_code: error.code,
    error_message: error.message,
  });
  st.emit("node.retrying", node, { error, delay_ms: decision.delay_ms, next_attempt_at: iso(node.due_at) });
}

export function markStarted(st: Step): void {
  st.s.exec.status = "running";
  st.s.exec.started_at = st.now;
  st.emit("execution.started", null, {});
}

/** Every node is terminal: the run succeeds with the outputs of its leaves, or fails naming the failed nodes. */
export function complete(st: Step, done: { status: "succeeded" | "failed"; failed_nodes: string[] }): void {
  if (done.status === "failed") {
    finish(st, "failed", { code: "node_failed", message: `failed nodes: ${done.failed_nodes.join(", ")}` });
    return;
  }
  const needed = new Set(st.s.exec.definition.nodes.flatMap((n) => n.needs));
  const output = Object.fromEntries(
    [...st.s.nodes.values()].filter((n) => !needed.has(n.id) && n.status === "succeeded").map((n) => [n.id, n.output]),
  );
  finish(st, "succeeded", null, output);
}

/** Move the execution to a terminal status; unfinished nodes are cancelled, children and map items with them. */
export function finish(
  st: Step,
  status: ExecutionStatus,
  error: { code: string; message: string } | null,
  output: unknown = null,
): void {
  const exec = st.s.exec;
  const reason = `parent ${exec.id} ${status}`;
  // Children still awaited by this run are cancelled with it (each then tells us, and we ignore it).
  const children = [...st.s.nodes.values()]
    .filter((n) => n.status === "waiting")
    .map((n) => childIdOf(n.wait_event))
    .filter((id): id is string => id !== null);
  if (children.length > 0) st.commands.push({ type: "cancelChildren", ids: children, reason });
  // Map items live in the shell's own table: only a run with map nodes needs it to look there.
  if (exec.definition.nodes.some((n) => n.kind === "map")) st.commands.push({ type: "stopMaps", reason });
  for (const n of st.s.nodes.values()) {
    if (TERMINAL_NODE.has(n.status)) continue;
    Object.assign(n, { status: "cancelled", due_at: null, finished_at: st.now });
    st.emit("node.cancelled", n, { reason: status });
  }
  Object.assign(exec, {
    status,
    finished_at: st.now,
    parked: null,
    output,
    error_code: error?.code ?? null,
    error_message: error?.message ?? null,
  });
  st.emit(executionEventType(status), null, {
    ...(error ? { error } : {}),
    ...(status === "succeeded" ? { output } : {}),
  });
  st.commands.push({ type: "ended" });
}

// The execution reducer: step(state, input, now, random) → { state, commands }. Everything an execution decides is
// here and runs in plain Node; the ExecutionObject (src/durable/execution.ts) persists what changed and performs the
// commands. `state` is changed in place and returned: the shell owns the one copy, and copying every node on every
// step would cost the per-node time the engine is measured by.
import type { ApprovalResult } from "../approval";
import { childEvent, childIdOf, childOutcome, childWait } from "../child";
import { TERMINAL_EXECUTION } from "../events";
import type { ItemCounts } from "../map";
import type { ForkSeed } from "../fork";
import { redrivePlan } from "../redrive";
import type { Lane } from "../fair-share";
import { canMove, dueWaits, plan } from "../scheduler";
import type { KeyedRequest, RunInput, RunResult, StepResult } from "./messages";
import { pendingNode, type NodeRecord, type RunState } from "./state";
import { parkable } from "./wake";
import {
  Step,
  complete,
  emitDelta,
  failNode,
  failOrRetry,
  finish,
  iso,
  markStarted,
  resumeNode,
  RESUMING_KINDS,
  skipNode,
  startAttempt,
  succeedNode,
} from "./transitions";

export function step(state: RunState, input: RunInput, now: number, random: () => number): StepResult {
  const st = new Step(state, now, random);
  const exec = state.exec;
  switch (input.type) {
    case "created":
      st.emit("execution.queued", null, {
        workflow_id: exec.workflow_id,
        version: exec.version,
        concurrency_key: exec.concurrency_key,
        ...(exec.fork ? { forked_from: exec.fork.from_execution_id, fork_node: exec.fork.from_node } : {}),
      });
      for (const seed of input.seeds ?? []) keepSeed(st, seed, exec.fork?.from_execution_id ?? "");
      if (input.concurrencyKeyError !== null)
        finish(st, "failed", {
          code: "concurrency_key_error",
          message: `concurrency_key: ${input.concurrencyKeyError}`,
        });
      break;
    case "slotGranted":
      if (exec.status === "queued") markStarted(st);
      else if (exec.status === "running" && exec.parked !== null) {
        exec.parked = null;
        st.execChanged = true;
        st.again = true;
      }
      break;
    case "idle":
      if (parkable(state, now)) {
        exec.parked = { at: now, wanted: null };
        st.execChanged = true;
        st.commands.push({ type: "releaseSlot" });
      }
      break;
    case "timerFired":
      if (!TERMINAL_EXECUTION.has(exec.status)) tick(st, input);
      break;
    case "conditionsEvaluated":
      for (const r of input.results) state.conditions.set(r.nodeId, r.holds);
      if (exec.status === "running") st.again = true;
      break;
    case "attemptFinished":
      attemptFinished(st, input.nodeId, input.attempt, input.result);
      break;
    case "mapFinished": {
      const node = st.node(input.nodeId);
      if (node.status !== "running" || node.attempt !== input.attempt) break;
      const items = { items: input.counts };
      if ("park" in input.result) {
        // Nothing can start before a retry falls due or a child execution ends: the alarm or the child wakes it.
        Object.assign(node, { status: "waiting", due_at: input.result.park, wait_event: null });
        st.emit("node.waiting", node, { until: iso(input.result.park), event: null, ...items });
      } else if (input.result.done.ok) succeedNode(st, node, input.result.done.output, items);
      else failNode(st, node, input.result.done.error, "fatal", items);
      break;
    }
    case "delta": {
      // Text of an attempt that has ended (a late chunk after its abort) or of an ended run is not logged.
      const node = state.nodes.get(input.nodeId);
      if (!node || node.status !== "running" || node.attempt !== input.attempt || TERMINAL_EXECUTION.has(exec.status))
        break;
      emitDelta(st, node, input.text, input.offset);
      break;
    }
    case "mapProgress":
      st.emit("node.progress", st.node(input.nodeId), { items: input.counts, reason: input.reason });
      break;
    case "mapUnparked": {
      const node = st.node(input.nodeId);
      if (node.status === "waiting") unpark(st, node, input.counts);
      break;
    }
    case "eventReceived":
      if (TERMINAL_EXECUTION.has(exec.status)) break;
      st.emit("event.received", null, { name: input.name, payload: input.payload ?? null });
      // A parked run woken by an event someone sent (an approval, a customer's answer) asks back in the
      // interactive lane, since a person waits on what it does next; only once something can move (a join still
      // waiting for its other branch asks nothing yet).
      if (
        deliver(st, input.name, input.payload, input.once, (node) => woken(st, node, input.name, input.payload, now)) &&
        canMove(exec.definition, state.nodes, now, state.defs)
      )
        wantSlot(st, "interactive");
      break;
    case "childFinished":
      if (TERMINAL_EXECUTION.has(exec.status)) break;
      deliver(st, childEvent(input.childId), input.result, undefined, (node) =>
        woken(st, node, childEvent(input.childId), input.result, now),
      );
      break;
    case "bufferedTaken":
      bufferedTaken(st, input.nodeId, input.event);
      break;
    case "cancelRequested":
      if (!TERMINAL_EXECUTION.has(exec.status)) finish(st, "cancelled", { code: "cancelled", message: input.message });
      break;
    case "paused":
      if (exec.status !== "running" && exec.status !== "queued") break;
      exec.status = "paused";
      st.emit("execution.paused", null, {});
      break;
    case "resumed":
      if (exec.status !== "paused") break;
      // One that never got its concurrency key or running slot goes back to waiting for it.
      exec.status = exec.started_at === null ? "queued" : "running";
      st.emit("execution.resumed", null, {});
      break;
    case "redriven":
      redrive(st, input);
      break;
    case "migrated":
      migrate(st, input);
      break;
    case "outputMissing":
      if (!TERMINAL_EXECUTION.has(exec.status))
        finish(st, "failed", {
          code: "output_missing",
          message: `the stored output of node "${input.nodeId}" (${input.ref}) is gone`,
        });
      break;
    case "projected":
      if (input.labels) exec.labels_projected = 1;
      exec.projected_seq = Math.max(exec.projected_seq, input.upTo);
      exec.flush_attempts = 0;
      // Changes made while the projection was on its way go with the next one.
      exec.flush_due_at = state.lastSeq > exec.projected_seq ? now + state.settings.projectionFlushMs : null;
      st.execChanged = true;
      break;
    case "projectionFailed":
      exec.flush_attempts += 1;
      exec.flush_due_at = now + projectionRetryDelay(exec.flush_attempts);
      st.execChanged = true;
      break;
    case "parentNotified":
      exec.parent_notified = 1;
      st.execChanged = true;
      break;
    case "parentNotifyFailed":
      // The projection's timer doubles as this retry's: the alarm comes back for both.
      exec.flush_due_at = Math.min(exec.flush_due_at ?? Infinity, now + projectionRetryDelay(++exec.flush_attempts));
      st.execChanged = true;
      break;
  }
  return st.result();
}

/** Backoff for failed projections: 0.5 s doubling to a minute; the alarm keeps retrying until D1 takes it. */
export function projectionRetryDelay(attempts: number): number {
  return Math.min(60_000, 500 * 2 ** Math.min(attempts, 7));
}

/** The drive loop's turn: deadline, due timers, attempts to resume, then the plan. */
function tick(st: Step, input: Extract<RunInput, { type: "timerFired" }>): void {
  const { exec, nodes } = st.s;
  if (st.now >= exec.deadline_at) {
    const seconds = Math.round((exec.deadline_at - exec.created_at) / 1000);
    finish(st, "timed_out", { code: "execution_timeout", message: `execution exceeded its timeout of ${seconds} s` });
    return;
  }
  if (exec.status !== "running") return;
  // Parked: nothing runs before the slot is back. Something that can move (a timer due, a node woken) asks for it.
  if (exec.parked !== null) {
    if (canMove(exec.definition, nodes, st.now, st.s.defs)) wantSlot(st, exec.lane);
    return;
  }
  for (const n of dueWaits(nodes.values(), st.now)) settleWait(st, n, input.dueMapCounts.get(n.id));
  let inflight = input.inflight.size;
  // Attempts recorded as running but not in flight were cut off by an eviction: re-run the same attempt.
  for (const n of nodes.values()) {
    if (n.status !== "running" || input.inflight.has(n.id) || input.yielded.has(n.id)) continue;
    st.commands.push({ type: "launchAttempt", nodeId: n.id, attempt: n.attempt, resume: true });
    inflight += 1;
  }
  const decided = plan(exec.definition, nodes, st.s.conditions, st.now);
  for (const f of decided.conditionFailed)
    failNode(st, st.node(f.id), { code: f.code ?? "condition_error", message: f.message, retryable: false }, "fatal");
  for (const s of decided.skipped) skipNode(st, st.node(s.id), s.reason, s.detail);
  for (const id of [...decided.conditionFailed.map((f) => f.id), ...decided.skipped.map((s) => s.id)])
    st.s.conditions.delete(id);
  st.again = decided.skipped.length + decided.conditionFailed.length > 0;
  if (decided.evaluate.length > 0)
    st.commands.push({
      type: "evaluateConditions",
      nodes: decided.evaluate.map((e) => ({ nodeId: e.id, expr: e.expr })),
    });
  if (decided.done && inflight === 0) return complete(st, decided.done);
  for (const id of decided.ready) {
    if (inflight >= exec.definition.max_parallel) break;
    if (input.inflight.has(id)) continue;
    st.s.conditions.delete(id);
    startAttempt(st, st.node(id));
    inflight += 1;
  }
}

/** A waiting node whose time came: a parked map runs again, an event wait times out, a sleep is over. */
function settleWait(st: Step, node: NodeRecord, counts: ItemCounts | undefined): void {
  if (node.kind === "map") unpark(st, node, counts);
  else if (RESUMING_KINDS.has(node.kind))
    resumeNode(st, node, node.wait_event ?? "timer", { timed_out: true, at: iso(st.now) });
  else if (node.wait_event)
    failNode(
      st,
      node,
      { code: "wait_timeout", message: `no "${node.wait_event}" event before the timeout`, retryable: false },
      "fatal",
    );
  else succeedNode(st, node, { woke_at: iso(st.now) });
}

function unpark(st: Step, node: NodeRecord, counts: ItemCounts | undefined): void {
  Object.assign(node, { status: "running", due_at: null });
  st.emit("node.progress", node, { items: counts, reason: "resumed" });
}

function attemptFinished(st: Step, id: string, attempt: number, result: RunResult): void {
  const node = st.node(id);
  // The run was cancelled or timed out, or this is a stale attempt: its result no longer counts.
  if (node.status !== "running" || node.attempt !== attempt) return;
  if ("ok" in result) {
    if (result.ok) {
      const from = result.reused_from ? { reused_from: result.reused_from } : {};
      succeedNode(st, node, result.output, result.mocked ? { ...from, mocked: true } : from);
      node.result_key = result.result_key ?? null;
      node.request_hash = result.request_hash ?? null;
    } else failOrRetry(st, node, attempt, result.error);
    return;
  }
  const wait = "child" in result ? childWait(result.child.execution_id) : result.wait;
  node.status = "waiting";
  node.due_at = wait.until;
  node.wait_event = wait.event;
  // A child wait names its execution as data, so clients need not parse the event name.
  const child = "child" in result ? { child: result.child } : {};
  const detail = "wait" in result && result.wait.detail ? { detail: result.wait.detail } : {};
  st.emit("node.waiting", node, { until: iso(wait.until), event: wait.event, ...child, ...detail });
  // The event (or the child's end) may have arrived before the wait began: it is in the inbox.
  if (wait.event) st.commands.push({ type: "takeBuffered", nodeId: node.id, name: wait.event });
}

/** A fork's node that starts finished: kept from its source as it was, or from_node with its patched output. */
function keepSeed(st: Step, seed: ForkSeed, source: string): void {
  const node = st.node(seed.node_id);
  if (seed.status === "skipped") {
    skipNode(st, node, "reused", `skipped in ${source}`);
    return;
  }
  succeedNode(st, node, seed.output, seed.patched ? { patched: true } : { reused_from: source });
}

/** Hand a received event to the oldest node waiting for it; it is kept in the inbox either way. True: delivered. */
function deliver(
  st: Step,
  name: string,
  payload: unknown,
  once: KeyedRequest | undefined,
  complete: (node: NodeRecord) => void,
): boolean {
  const waiter = [...st.s.nodes.values()].find((n) => n.status === "waiting" && n.wait_event === name);
  st.commands.push({
    type: "storeEvent",
    name,
    payload,
    at: st.now,
    consumedBy: waiter?.id ?? null,
    ...(once ? { once } : {}),
  });
  if (waiter) complete(waiter);
  return waiter !== undefined;
}

/** A parked run that can move asks for a running slot again, in `lane` (the first reason to ask decides). */
function wantSlot(st: Step, lane: Lane): void {
  const parked = st.s.exec.parked;
  if (parked === null || parked.wanted !== null) return;
  parked.wanted = lane;
  st.execChanged = true;
}

function bufferedTaken(st: Step, id: string, event: { payload: unknown; received_at: number } | null): void {
  const node = st.node(id);
  if (!event || node.status !== "waiting" || !node.wait_event) return;
  woken(st, node, node.wait_event, event.payload, event.received_at);
}

/** What an event (just received, or taken from the inbox) does to the node waiting for it, by the node's kind. */
function woken(st: Step, node: NodeRecord, name: string, payload: unknown, receivedAt: number): void {
  const childId = childIdOf(name);
  const received = { name, payload: payload ?? null, received_at: iso(receivedAt) };
  if (RESUMING_KINDS.has(node.kind)) resumeNode(st, node, name, childId !== null ? payload : received);
  else if (node.kind === "approval") approvalSettled(st, node, payload);
  else if (node.kind === "workflow" && childId !== null)
    childResult(st, node, childOutcome(childId, payload as Parameters<typeof childOutcome>[1]));
  else succeedNode(st, node, received);
}

/** An approval's settled result (src/engine/approval.ts approvalResult): the node's output, or its failure. */
function approvalSettled(st: Step, node: NodeRecord, payload: unknown): void {
  const r = payload as ApprovalResult | null;
  if (r?.ok === true) succeedNode(st, node, r.output);
  else
    failNode(
      st,
      node,
      {
        code: r?.code ?? "invalid_approval",
        message: r?.message ?? "the approval event carried no result",
        retryable: false,
      },
      "fatal",
    );
}

/** A child's end: success is the node's output; anything else is a failed attempt under the node's retry policy. */
function childResult(st: Step, node: NodeRecord, result: RunResult): void {
  if (!("ok" in result)) return;
  if (result.ok) succeedNode(st, node, result.output);
  else failOrRetry(st, node, node.attempt, result.error);
}

/**
 * Run a finished execution again from its unsucceeded nodes, or from `fromNode` and everything downstream.
 * Completed outputs and the event log are kept (new events continue the same seq); attempts keep counting, so
 * every new attempt has a new idempotency key, while the retry policy starts afresh.
 */
/** Move to another version: nodes renamed, added (pending) and removed as planned; nothing that ran runs again. */
function migrate(st: Step, input: Extract<RunInput, { type: "migrated" }>): void {
  const s = st.s;
  const nodes = new Map(s.nodes);
  for (const [from, to] of Object.entries(input.renamed)) {
    const n = nodes.get(from) as NodeRecord;
    nodes.delete(from);
    nodes.set(to, Object.assign(n, { id: to }));
  }
  for (const id of input.removed) nodes.delete(id);
  for (const a of input.added) nodes.set(a.id, pendingNode(a.id, a.kind));
  const from = s.exec.version;
  s.nodes = new Map(input.definition.nodes.map((d) => [d.id, nodes.get(d.id) as NodeRecord]));
  s.defs = new Map(input.definition.nodes.map((d) => [d.id, d]));
  s.conditions.clear();
  Object.assign(s.exec, { definition: input.definition, version: input.version });
  st.emit("execution.migrated", null, {
    from_version: from,
    to_version: input.version,
    renamed: input.renamed,
    added: input.added.map((a) => a.id),
    removed: input.removed,
  });
  s.exec.migrated = { from_version: from, at_seq: s.lastSeq };
  // Renamed and added rows are new to D1: the next projection writes them (and drops the old names).
  for (const id of [...Object.values(input.renamed), ...input.added.map((a) => a.id)]) {
    const n = s.nodes.get(id) as NodeRecord;
    n.seq = s.lastSeq;
    st.changedNodes.add(id);
  }
  if (s.exec.status === "running") st.again = true;
}

function redrive(st: Step, input: Extract<RunInput, { type: "redriven" }>): void {
  const exec = st.s.exec;
  if (!TERMINAL_EXECUTION.has(exec.status)) {
    st.refused = { code: "execution_not_finished", message: `the execution is ${exec.status}` };
    return;
  }
  if ((exec.finished_at ?? 0) < st.now - input.windowMs) {
    const days = Math.round(input.windowMs / 86_400_000);
    st.refused = {
      code: "redrive_window_passed",
      message: `an execution can be redriven for ${days} days after it ended`,
    };
    return;
  }
  const statuses = new Map([...st.s.nodes].map(([id, n]) => [id, n.status]));
  const decided = redrivePlan(exec.definition, statuses, input.fromNode);
  if (!decided.ok) {
    st.refused = { code: decided.code, message: decided.message };
    return;
  }
  for (const id of decided.reset) {
    const n = st.node(id);
    // Pending again with no trace of the last run but its attempt count, from which the retry policy starts afresh.
    Object.assign(n, { ...pendingNode(n.id, n.kind), attempt: n.attempt, attempt_base: n.attempt, seq: n.seq });
    st.s.conditions.delete(id);
  }
  if (input.inputPatch)
    exec.input =
      exec.input && typeof exec.input === "object" && !Array.isArray(exec.input)
        ? { ...(exec.input as object), ...input.inputPatch }
        : input.inputPatch;
  const timeout = exec.deadline_at - exec.created_at;
  Object.assign(exec, {
    status: "queued",
    finished_at: null,
    output: null,
    error_code: null,
    error_message: null,
    deadline_at: st.now + timeout,
  });
  st.emit("execution.redriven", null, {
    from_node: input.fromNode ?? null,
    reset: decided.reset,
    input_patched: Boolean(input.inputPatch),
  });
  // Every reset node carries the redrive's seq, so the next projection rewrites it.
  for (const id of decided.reset) {
    st.node(id).seq = st.s.lastSeq;
    st.changedNodes.add(id);
  }
}

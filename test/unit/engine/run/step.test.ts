// The execution reducer on its own: inputs in, state and commands out, no Durable Object, no clock but the one given.
import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../../../src/engine/dag";
import type { RunCommand, RunInput, StepResult } from "../../../../src/engine/run/messages";
import { newExecution, pendingNode, runState, unprojected, type RunState } from "../../../../src/engine/run/state";
import { projectionRetryDelay, step as rawStep } from "../../../../src/engine/run/step";
import { nextAlarm, PARK_AFTER_MS, QUEUE_POLL_MS } from "../../../../src/engine/run/wake";
import { eventSchema } from "../../../../src/engine/event-schema";
import { kindSpecs } from "../../../../src/nodes";

const T0 = 1_000_000;
const FLUSH_MS = 100;

function begin(nodes: unknown[], extra: Record<string, unknown> = {}): RunState {
  const v = validateDefinition({ name: "t", nodes, ...extra }, kindSpecs);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const p = {
    id: "ex_1",
    tenant_id: "t_1",
    workflow_id: "wf_1",
    version: 1,
    definition: v.definition,
    input: { n: 1 },
    trace_id: null,
    labels: null,
    parent_execution_id: null,
    parent_node_id: null,
    history_shard: -1,
    lane: "default" as const,
    timeout_seconds: 60,
  };
  const exec = newExecution(p, null, T0);
  return runState(
    exec,
    v.definition.nodes.map((n) => pendingNode(n.id, n.kind)),
    0,
    { projectionFlushMs: FLUSH_MS },
  );
}

const t = (id: string, needs: string[] = [], extra: Record<string, unknown> = {}) => ({
  id,
  kind: "transform",
  needs,
  config: { expression: "1" },
  ...extra,
});

const feed = (s: RunState, input: RunInput, now = T0, random = () => 0.5): StepResult => step(s, input, now, random);
const tick = (s: RunState, now = T0, inflight: string[] = []) =>
  feed(s, { type: "timerFired", inflight: new Set(inflight), yielded: new Set(), dueMapCounts: new Map() }, now);
const ok = (nodeId: string, attempt: number, output: unknown = nodeId): RunInput => ({
  type: "attemptFinished",
  nodeId,
  attempt,
  result: { ok: true, output },
});
const failed = (nodeId: string, attempt: number, retryable = true): RunInput => ({
  type: "attemptFinished",
  nodeId,
  attempt,
  result: { ok: false, error: { code: "http_503", message: "down", retryable } },
});

/**
 * The reducer under test, with every event it emits held to the declared protocol (src/engine/event-schema.ts) as
 * clients receive it: every test here is also a test that no event type or field drifts from it.
 */
const step = (...args: Parameters<typeof rawStep>): StepResult => {
  const r = rawStep(...args);
  for (const c of r.commands) {
    if (c.type !== "emit") continue;
    const { nodeId, at, ...e } = c.event;
    const wire = {
      ...e,
      execution_id: "ex_test",
      ...(nodeId ? { node_id: nodeId } : {}),
      attempt: e.attempt ?? undefined,
      at: new Date(at).toISOString(),
    };
    const parsed = eventSchema.safeParse(JSON.parse(JSON.stringify(wire)));
    if (!parsed.success) throw new Error(`${e.type} is off the protocol: ${parsed.error.message}`);
  }
  return r;
};

/** The events a step emitted, as "type" or "type:node". */
const events = (r: StepResult) =>
  r.commands.flatMap((c) =>
    c.type === "emit" ? [`${c.event.type}${c.event.nodeId ? `:${c.event.nodeId}` : ""}`] : [],
  );
const launched = (r: StepResult) =>
  r.commands.flatMap((c) =>
    c.type === "launchAttempt" ? [`${c.nodeId}#${c.attempt}${c.resume ? " resume" : ""}`] : [],
  );
const command = <K extends RunCommand["type"]>(r: StepResult, type: K) =>
  r.commands.find((c): c is Extract<RunCommand, { type: K }> => c.type === type);
const eventData = (r: StepResult, type: string) => {
  const c = r.commands.find((x) => x.type === "emit" && x.event.type === type);
  return c?.type === "emit" ? c.event.data : undefined;
};

/** Created, granted its slot, running. */
function running(nodes: unknown[], extra: Record<string, unknown> = {}): RunState {
  const s = begin(nodes, extra);
  feed(s, { type: "created", concurrencyKeyError: null });
  feed(s, { type: "slotGranted" });
  return s;
}

describe("execution reducer: the life of a run", () => {
  it("queues, starts, runs a chain node by node and succeeds with its leaves' outputs, numbering every event", () => {
    const s = begin([t("a"), t("b", ["a"]), t("c", ["a"])]);
    expect(events(feed(s, { type: "created", concurrencyKeyError: null }))).toEqual(["execution.queued"]);
    expect(s.exec.status).toBe("queued");
    expect(events(tick(s))).toEqual([]); // a queued run waits for its slot
    expect(events(feed(s, { type: "slotGranted" }))).toEqual(["execution.started"]);
    const first = tick(s);
    expect(events(first)).toEqual(["node.started:a"]);
    expect(launched(first)).toEqual(["a#1"]);
    expect(events(feed(s, ok("a", 1)))).toEqual(["node.succeeded:a"]);
    expect(launched(tick(s))).toEqual(["b#1", "c#1"]);
    feed(s, ok("b", 1, "B"));
    expect(events(tick(s, T0, ["c"]))).toEqual([]); // c still in flight: not done yet
    feed(s, ok("c", 1, "C"));
    const last = tick(s);
    expect(events(last)).toEqual(["execution.succeeded"]);
    expect(eventData(last, "execution.succeeded")).toEqual({ output: { b: "B", c: "C" } });
    expect(command(last, "ended")).toBeDefined();
    expect(s.exec.status).toBe("succeeded");
    expect(s.lastSeq).toBe(9);
  });

  it("writes the execution row only when the execution changed or the projection gets armed", () => {
    const s = running([t("a"), t("b", ["a"])]);
    expect(s.exec.flush_due_at).toBe(T0 + FLUSH_MS);
    const r = tick(s);
    expect([...r.changedNodes]).toEqual(["a"]);
    expect(r.execChanged).toBe(false);
    expect(feed(s, { type: "projected", upTo: s.lastSeq, labels: true }, T0 + 5).execChanged).toBe(true);
    expect(s.exec.flush_due_at).toBeNull();
    expect(feed(s, ok("a", 1), T0 + 10).execChanged).toBe(true); // arms the next projection
    expect(s.exec.flush_due_at).toBe(T0 + 10 + FLUSH_MS);
  });

  it("fails the run naming the failed nodes, and skips what needed them", () => {
    const s = running([t("a", [], { retry: { max_attempts: 1 } }), t("b", ["a"]), t("c")]);
    tick(s);
    feed(s, ok("c", 1));
    expect(events(feed(s, failed("a", 1)))).toEqual(["node.failed:a"]);
    const r = tick(s);
    expect(events(r)).toEqual(["node.skipped:b", "execution.failed"]);
    expect(eventData(r, "node.skipped")).toEqual({ reason: "upstream_failed", detail: 'need "a" failed' });
    expect(s.exec.error_code).toBe("node_failed");
    expect(s.exec.error_message).toBe("failed nodes: a");
  });

  it("keeps at most max_parallel attempts in flight", () => {
    const s = running([t("a"), t("b"), t("c")], { max_parallel: 2 });
    expect(launched(tick(s))).toEqual(["a#1", "b#1"]);
    expect(launched(tick(s, T0, ["a", "b"]))).toEqual([]);
    feed(s, ok("a", 1));
    expect(launched(tick(s, T0, ["b"]))).toEqual(["c#1"]);
  });

  it("re-runs an attempt cut off by an eviction as the same attempt, and ignores stale results", () => {
    const s = running([t("a")]);
    tick(s);
    expect(launched(tick(s, T0, []))).toEqual(["a#1 resume"]);
    expect(events(feed(s, ok("a", 0)))).toEqual([]); // an older attempt's answer
    expect(events(feed(s, ok("a", 1)))).toEqual(["node.succeeded:a"]);
    expect(events(feed(s, ok("a", 1)))).toEqual([]); // the same answer twice
  });
});

describe("execution reducer: retries", () => {
  it("retries after the policy's backoff with the next attempt time, then gives up when exhausted", () => {
    const retry = { max_attempts: 3, initial_delay_ms: 1000, backoff_coefficient: 2, jitter: false };
    const s = running([t("a", [], { retry })]);
    tick(s);
    const r1 = feed(s, failed("a", 1));
    expect(events(r1)).toEqual(["node.retrying:a"]);
    expect(eventData(r1, "node.retrying")).toMatchObject({
      delay_ms: 1000,
      next_attempt_at: new Date(T0 + 1000).toISOString(),
    });
    expect(s.nodes.get("a")).toMatchObject({ status: "retrying", due_at: T0 + 1000, error_code: "http_503" });
    expect(launched(tick(s, T0 + 999))).toEqual([]);
    expect(launched(tick(s, T0 + 1000))).toEqual(["a#2"]);
    expect(eventData(feed(s, failed("a", 2), T0 + 1000), "node.retrying")).toMatchObject({ delay_ms: 2000 });
    tick(s, T0 + 3000);
    const r3 = feed(s, failed("a", 3), T0 + 3000);
    expect(events(r3)).toEqual(["node.failed:a"]);
    expect(eventData(r3, "node.failed")).toMatchObject({ reason: "exhausted" });
  });

  it("waits out a deferral (provider admission) without spending an attempt or changing the Idempotency-Key", () => {
    const s = running([t("a", [], { retry: { max_attempts: 1 } })]);
    tick(s);
    const full = {
      code: "provider_window_full",
      message: "full",
      retryable: true,
      deferred: true,
      retry_after_ms: 700,
    };
    const r1 = feed(s, { type: "attemptFinished", nodeId: "a", attempt: 1, result: { ok: false, error: full } });
    expect(events(r1)).toEqual(["node.retrying:a"]);
    expect(eventData(r1, "node.retrying")).toMatchObject({ delay_ms: 700, error: { deferred: true } });
    // Attempts keep rising (Edgeflow-Attempt), but the key's base is a redrive's alone: still <execution>:a.
    expect(s.nodes.get("a")).toMatchObject({ status: "retrying", attempt: 1, attempt_base: 0, deferrals: 1 });
    expect(launched(tick(s, T0 + 700))).toEqual(["a#2"]);
    // max_attempts 1: the deferral was not that attempt, so the first real failure ends it.
    expect(eventData(feed(s, failed("a", 2), T0 + 700), "node.failed")).toMatchObject({ reason: "exhausted" });
  });

  it("draws jitter from the randomness it is given, and fails a fatal error at once", () => {
    const s = running([t("a", [], { retry: { max_attempts: 3, initial_delay_ms: 1000 } }), t("b")]);
    tick(s);
    expect(
      eventData(
        feed(s, failed("a", 1), T0, () => 0.25),
        "node.retrying",
      ),
    ).toMatchObject({ delay_ms: 250 });
    expect(eventData(feed(s, failed("b", 1, false)), "node.failed")).toMatchObject({ reason: "fatal" });
  });
});

describe("execution reducer: conditions and skips", () => {
  it("asks the shell to evaluate a `when`, then skips down the chain on false", () => {
    const s = running([t("a"), t("b", ["a"], { when: "nodes.a.output > 1" }), t("c", ["b"]), t("d", ["c"])]);
    tick(s);
    feed(s, ok("a", 1, 0));
    const asked = tick(s);
    expect(command(asked, "evaluateConditions")).toEqual({
      type: "evaluateConditions",
      nodes: [{ nodeId: "b", expr: "nodes.a.output > 1" }],
    });
    expect(events(asked)).toEqual([]);
    expect(feed(s, { type: "conditionsEvaluated", results: [{ nodeId: "b", holds: false }] }).again).toBe(true);
    const r = tick(s);
    expect(events(r)).toEqual(["node.skipped:b", "node.skipped:c", "node.skipped:d", "execution.succeeded"]);
    expect(r.again).toBe(true);
  });

  it("runs the node when its condition holds, and fails it (not the engine) when the condition throws", () => {
    const s = running([t("a", [], { when: "true" }), t("b", [], { when: "$error('x')" }), t("c", ["b"])]);
    tick(s);
    feed(s, {
      type: "conditionsEvaluated",
      results: [
        { nodeId: "a", holds: true },
        { nodeId: "b", holds: { error: "x" } },
      ],
    });
    const r = tick(s);
    expect(launched(r)).toEqual(["a#1"]);
    expect(events(r)).toEqual(["node.failed:b", "node.skipped:c", "node.started:a"]);
    expect(s.nodes.get("b")).toMatchObject({ status: "failed", error_code: "condition_error", error_message: "x" });
  });
});

describe("execution reducer: timers, waits and events", () => {
  const sleep = (id: string) => ({ id, kind: "sleep", config: { duration_ms: 5000 } });
  const wait = (id: string) => ({ id, kind: "wait_for_event", config: { event: "approved", timeout_ms: 10_000 } });

  it("wakes a sleeping node when its time comes", () => {
    const s = running([sleep("nap")]);
    tick(s);
    feed(s, {
      type: "attemptFinished",
      nodeId: "nap",
      attempt: 1,
      result: { wait: { until: T0 + 5000, event: null } },
    });
    expect(events(tick(s, T0 + 4999))).toEqual([]);
    const r = tick(s, T0 + 5000);
    expect(events(r)).toEqual(["node.succeeded:nap", "execution.succeeded"]);
    expect(s.nodes.get("nap")?.output).toEqual({ woke_at: new Date(T0 + 5000).toISOString() });
  });

  it("delivers an event to the node waiting for it, checks the inbox when a wait begins, and times a wait out", () => {
    const s = running([wait("w1"), wait("w2")]);
    tick(s);
    const waiting = feed(s, {
      type: "attemptFinished",
      nodeId: "w1",
      attempt: 1,
      result: { wait: { until: T0 + 10_000, event: "approved" } },
    });
    expect(command(waiting, "takeBuffered")).toEqual({ type: "takeBuffered", nodeId: "w1", name: "approved" });
    const got = feed(s, { type: "eventReceived", name: "approved", payload: { by: "ann" } }, T0 + 1);
    expect(events(got)).toEqual(["event.received", "node.succeeded:w1"]);
    expect(command(got, "storeEvent")).toMatchObject({ name: "approved", consumedBy: "w1" });
    // Nobody waits now: the next one is kept for a later wait.
    expect(command(feed(s, { type: "eventReceived", name: "approved", payload: 2 }), "storeEvent")).toMatchObject({
      consumedBy: null,
    });
    feed(s, {
      type: "attemptFinished",
      nodeId: "w2",
      attempt: 1,
      result: { wait: { until: T0 + 10_000, event: "x" } },
    });
    const r = tick(s, T0 + 10_000);
    expect(events(r)).toEqual(["node.failed:w2", "execution.failed"]);
    expect(s.nodes.get("w2")?.error_code).toBe("wait_timeout");
  });

  it("completes a wait from the inbox when the event arrived first", () => {
    const s = running([wait("w")]);
    tick(s);
    feed(s, { type: "attemptFinished", nodeId: "w", attempt: 1, result: { wait: { until: null, event: "approved" } } });
    const r = feed(s, { type: "bufferedTaken", nodeId: "w", event: { payload: 7, received_at: T0 - 50 } });
    expect(events(r)).toEqual(["node.succeeded:w"]);
    expect(s.nodes.get("w")?.output).toEqual({
      name: "approved",
      payload: 7,
      received_at: new Date(T0 - 50).toISOString(),
    });
  });

  it("times the whole run out at its deadline, cancelling what is unfinished", () => {
    const s = running([t("a"), sleep("nap")]);
    tick(s);
    const r = tick(s, s.exec.deadline_at, ["a", "nap"]);
    expect(events(r)).toEqual(["node.cancelled:a", "node.cancelled:nap", "execution.timed_out"]);
    expect(s.exec.error_code).toBe("execution_timeout");
    expect(command(r, "ended")).toBeDefined();
  });
});

describe("execution reducer: a run that only waits gives its running slot back", () => {
  const wait = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    kind: "wait_for_event",
    config: { event: "go", ...extra },
  });
  const waiting = (s: RunState, id: string, until: number | null) =>
    feed(s, { type: "attemptFinished", nodeId: id, attempt: 1, result: { wait: { until, event: "go" } } });

  it("parks at a wait with only its downstream pending, and its alarm is the deadline, not now", () => {
    const s = running([wait("w"), t("after", ["w"])]);
    tick(s);
    waiting(s, "w", null);
    feed(s, { type: "projected", upTo: s.lastSeq, labels: false });
    // Pending behind a wait is not work: an alarm "now" would wake the object over and over for nothing.
    expect(nextAlarm(s, T0 + 1, null)).toBe(s.exec.deadline_at);
    const r = feed(s, { type: "idle" }, T0 + 1);
    expect(command(r, "releaseSlot")).toEqual({ type: "releaseSlot" });
    expect(r.execChanged).toBe(true);
    expect(s.exec).toMatchObject({ status: "running", parked: { at: T0 + 1, wanted: null } });
    expect(events(r)).toEqual([]);
    // Once parked, it does not park again.
    expect(command(feed(s, { type: "idle" }, T0 + 2), "releaseSlot")).toBeUndefined();
  });

  it("keeps its slot while anything runs, and through a wait shorter than PARK_AFTER_MS", () => {
    const busy = running([wait("w"), t("other")]);
    tick(busy);
    waiting(busy, "w", null);
    expect(command(feed(busy, { type: "idle" }), "releaseSlot")).toBeUndefined();
    const short = running([wait("w")]);
    tick(short);
    waiting(short, "w", T0 + PARK_AFTER_MS - 1);
    expect(command(feed(short, { type: "idle" }), "releaseSlot")).toBeUndefined();
    const long = running([wait("w")]);
    tick(long);
    waiting(long, "w", T0 + PARK_AFTER_MS);
    expect(command(feed(long, { type: "idle" }), "releaseSlot")).toBeDefined();
  });

  it("woken by an event, asks in the interactive lane and starts nothing before the slot is back", () => {
    const s = running([wait("w"), t("after", ["w"])]);
    tick(s);
    waiting(s, "w", null);
    feed(s, { type: "idle" });
    const got = feed(s, { type: "eventReceived", name: "go", payload: 1 }, T0 + 5);
    expect(events(got)).toEqual(["event.received", "node.succeeded:w"]);
    expect(s.exec.parked).toEqual({ at: T0, wanted: "interactive" });
    feed(s, { type: "projected", upTo: s.lastSeq, labels: false }, T0 + 5);
    // Asking: its poll, not "now" (the TenantObject wakes it when a slot is its).
    expect(nextAlarm(s, T0 + 5, null)).toBe(T0 + 5 + QUEUE_POLL_MS);
    expect(launched(tick(s, T0 + 6))).toEqual([]);
    const back = feed(s, { type: "slotGranted" }, T0 + 7);
    expect(back.again).toBe(true);
    expect(s.exec.parked).toBeNull();
    expect(launched(tick(s, T0 + 7))).toEqual(["after#1"]);
  });

  it("an event that leaves a join still waiting for its other branch asks for nothing yet", () => {
    const s = running([
      { id: "w1", kind: "wait_for_event", config: { event: "one" } },
      { id: "w2", kind: "wait_for_event", config: { event: "two" } },
      t("join", ["w1", "w2"]),
    ]);
    tick(s);
    for (const [id, event] of [
      ["w1", "one"],
      ["w2", "two"],
    ] as const)
      feed(s, { type: "attemptFinished", nodeId: id, attempt: 1, result: { wait: { until: null, event } } });
    feed(s, { type: "idle" });
    feed(s, { type: "eventReceived", name: "one", payload: 1 }, T0 + 1);
    expect(s.exec.parked).toEqual({ at: T0, wanted: null });
    feed(s, { type: "eventReceived", name: "two", payload: 2 }, T0 + 2);
    expect(s.exec.parked).toEqual({ at: T0, wanted: "interactive" });
  });

  it("woken by its timer, asks in its own lane; the deadline still ends it while parked", () => {
    const s = running([{ id: "nap", kind: "sleep", config: { duration_ms: 30_000 } }, t("after", ["nap"])]);
    tick(s);
    feed(s, {
      type: "attemptFinished",
      nodeId: "nap",
      attempt: 1,
      result: { wait: { until: T0 + 30_000, event: null } },
    });
    feed(s, { type: "idle" });
    expect(events(tick(s, T0 + 29_999))).toEqual([]);
    expect(s.exec.parked?.wanted).toBeNull();
    expect(events(tick(s, T0 + 30_000))).toEqual([]);
    expect(s.exec.parked).toEqual({ at: T0, wanted: "default" });
    const late = tick(s, s.exec.deadline_at);
    expect(events(late)).toContain("execution.timed_out");
    expect(s.exec.parked).toBeNull();
  });
});

describe("execution reducer: cancel, pause, resume", () => {
  it("cancels once, with the children its nodes wait for", () => {
    const s = running([{ id: "sub", kind: "workflow", config: { workflow_id: "wf_child" } }, t("a")]);
    tick(s);
    feed(s, { type: "attemptFinished", nodeId: "sub", attempt: 1, result: { child: { execution_id: "ex_c" } } });
    const r = feed(s, { type: "cancelRequested", message: "stop" });
    expect(command(r, "cancelChildren")).toEqual({
      type: "cancelChildren",
      ids: ["ex_c"],
      reason: "parent ex_1 cancelled",
    });
    expect(events(r)).toEqual(["node.cancelled:sub", "node.cancelled:a", "execution.cancelled"]);
    expect(events(feed(s, { type: "cancelRequested", message: "again" }))).toEqual([]);
    expect(events(feed(s, ok("a", 1)))).toEqual([]); // an attempt finishing after the cancel no longer counts
  });

  it("starts nothing while paused and goes on after resume; a run that never started goes back to the queue", () => {
    const s = running([t("a")]);
    expect(events(feed(s, { type: "paused" }))).toEqual(["execution.paused"]);
    expect(launched(tick(s))).toEqual([]);
    expect(events(feed(s, { type: "paused" }))).toEqual([]);
    feed(s, { type: "resumed" });
    expect(s.exec.status).toBe("running");
    expect(launched(tick(s))).toEqual(["a#1"]);
    const q = begin([t("a")]);
    feed(q, { type: "created", concurrencyKeyError: null });
    feed(q, { type: "paused" });
    feed(q, { type: "resumed" });
    expect(q.exec.status).toBe("queued");
  });

  it("fails at once when the concurrency key cannot be rendered", () => {
    const s = begin([t("a")]);
    const r = feed(s, { type: "created", concurrencyKeyError: "bad" });
    expect(events(r)).toEqual(["execution.queued", "node.cancelled:a", "execution.failed"]);
    expect(s.exec.error_code).toBe("concurrency_key_error");
  });
});

describe("execution reducer: redrive", () => {
  const redrive = (s: RunState, fromNode?: string, now = T0 + 100) =>
    feed(s, { type: "redriven", fromNode, inputPatch: undefined, windowMs: 86_400_000 }, now);

  it("refuses a run that has not finished, one past the window, and an unknown node", () => {
    const s = running([t("a")]);
    expect(redrive(s).refused?.code).toBe("execution_not_finished");
    feed(s, { type: "cancelRequested", message: "x" });
    expect(redrive(s, "nope").refused?.code).toBe("unknown_node");
    expect(redrive(s, undefined, T0 + 86_400_001).refused?.code).toBe("redrive_window_passed");
    expect(s.exec.status).toBe("cancelled");
  });

  it("resets the failed node and what follows it, keeps the rest, and counts retries afresh", () => {
    const s = running([t("a"), t("b", ["a"], { retry: { max_attempts: 1 } }), t("c", ["b"])]);
    tick(s);
    feed(s, ok("a", 1));
    tick(s);
    feed(s, failed("b", 1));
    tick(s);
    expect(s.exec.status).toBe("failed");
    feed(s, { type: "projected", upTo: s.lastSeq, labels: true });
    const r = feed(s, { type: "redriven", fromNode: undefined, inputPatch: { n: 2 }, windowMs: 86_400_000 }, T0 + 500);
    expect(events(r)).toEqual(["execution.redriven"]);
    expect(eventData(r, "execution.redriven")).toEqual({ from_node: null, reset: ["b", "c"], input_patched: true });
    // The reset nodes carry the redrive's seq: the next projection rewrites exactly them and the execution row.
    expect(unprojected(s)).toMatchObject({ nodeIds: ["b", "c"], any: true });
    expect(s.exec).toMatchObject({ status: "queued", input: { n: 2 }, deadline_at: T0 + 500 + 60_000 });
    expect(s.nodes.get("a")?.status).toBe("succeeded");
    expect(s.nodes.get("b")).toMatchObject({ status: "pending", attempt: 1, attempt_base: 1 });
    feed(s, { type: "slotGranted" }, T0 + 500);
    expect(launched(tick(s, T0 + 500))).toEqual(["b#2"]);
    // max_attempts 1 again: the policy counts from the redrive.
    expect(eventData(feed(s, failed("b", 2), T0 + 500), "node.failed")).toMatchObject({ reason: "exhausted" });
  });
});

describe("execution reducer: map nodes", () => {
  const map = {
    id: "m",
    kind: "map",
    config: { items: "input.list", node: { kind: "transform", config: { expression: "item" } } },
  };
  const counts = (succeeded: number, waiting = 0) => ({
    total: 3,
    pending: 3 - succeeded - waiting,
    running: 0,
    retrying: 0,
    waiting,
    succeeded,
    failed: 0,
    cancelled: 0,
  });

  it("reports progress, parks until a timer or a child, resumes, and ends with its final counts", () => {
    const s = running([map]);
    tick(s);
    expect(events(feed(s, { type: "mapProgress", nodeId: "m", counts: counts(1), reason: "progress" }))).toEqual([
      "node.progress:m",
    ]);
    feed(s, { type: "mapFinished", nodeId: "m", attempt: 1, result: { park: T0 + 2000 }, counts: counts(1, 2) });
    expect(s.nodes.get("m")).toMatchObject({ status: "waiting", due_at: T0 + 2000 });
    const woke = feed(
      s,
      { type: "timerFired", inflight: new Set(), yielded: new Set(), dueMapCounts: new Map([["m", counts(1, 2)]]) },
      T0 + 2000,
    );
    expect(events(woke)).toEqual(["node.progress:m"]);
    expect(launched(woke)).toEqual(["m#1 resume"]);
    expect(eventData(woke, "node.progress")).toEqual({ items: counts(1, 2), reason: "resumed" });
    feed(s, { type: "mapFinished", nodeId: "m", attempt: 1, result: { park: null }, counts: counts(2, 1) });
    expect(events(feed(s, { type: "mapUnparked", nodeId: "m", counts: counts(2, 1) }))).toEqual(["node.progress:m"]);
    const done = feed(s, {
      type: "mapFinished",
      nodeId: "m",
      attempt: 1,
      result: { done: { ok: true, output: [1, 2, 3] } },
      counts: counts(3),
    });
    expect(eventData(done, "node.succeeded")).toEqual({ output: [1, 2, 3], items: counts(3) });
  });

  it("does not resume a map node that yielded its budget until the next invocation", () => {
    const s = running([map]);
    tick(s);
    const r = feed(s, { type: "timerFired", inflight: new Set(), yielded: new Set(["m"]), dueMapCounts: new Map() });
    expect(launched(r)).toEqual([]);
    expect(events(r)).toEqual([]);
  });
});

describe("execution reducer: child executions", () => {
  const sub = { id: "sub", kind: "workflow", config: { workflow_id: "wf_child" }, retry: { max_attempts: 2 } };

  it("waits for its child and takes its output, or treats its failure as a failed attempt", () => {
    const s = running([sub]);
    tick(s);
    const w = feed(s, {
      type: "attemptFinished",
      nodeId: "sub",
      attempt: 1,
      result: { child: { execution_id: "ex_c" } },
    });
    expect(eventData(w, "node.waiting")).toEqual({ until: null, event: "child:ex_c", child: { execution_id: "ex_c" } });
    expect(command(w, "takeBuffered")).toMatchObject({ name: "child:ex_c" });
    const f = feed(s, {
      type: "childFinished",
      childId: "ex_c",
      result: { status: "failed", output: null, error: null },
    });
    expect(events(f)).toEqual(["node.retrying:sub"]);
    expect(s.nodes.get("sub")?.error_code).toBe("child_failed");
    tick(s, T0 + 30_000);
    feed(s, { type: "attemptFinished", nodeId: "sub", attempt: 2, result: { child: { execution_id: "ex_d" } } });
    const done = feed(s, {
      type: "childFinished",
      childId: "ex_d",
      result: { status: "succeeded", output: { x: 1 }, error: null },
    });
    expect(events(done)).toEqual(["node.succeeded:sub"]);
    expect(s.nodes.get("sub")?.output).toEqual({ execution_id: "ex_d", output: { x: 1 } });
  });

  it("keeps the end of a child nobody waits for yet, and takes it from the inbox when the wait begins", () => {
    const s = running([sub]);
    tick(s);
    const early = feed(s, {
      type: "childFinished",
      childId: "ex_c",
      result: { status: "cancelled", output: null, error: null },
    });
    expect(command(early, "storeEvent")).toMatchObject({ name: "child:ex_c", consumedBy: null });
    feed(s, { type: "attemptFinished", nodeId: "sub", attempt: 1, result: { child: { execution_id: "ex_c" } } });
    const r = feed(s, {
      type: "bufferedTaken",
      nodeId: "sub",
      event: { payload: { status: "cancelled", output: null, error: null }, received_at: T0 },
    });
    // A cancelled child is final: no retry.
    expect(eventData(r, "node.failed")).toMatchObject({ reason: "fatal" });
  });
});

describe("execution reducer: agents resume where they waited", () => {
  const agent = {
    id: "ag",
    kind: "agent",
    config: {
      tier: "mid",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ name: "t", transform: "1", requires_approval: true }],
    },
  };

  it("runs the same attempt again with what woke it: an event, a child's end, or the timeout", () => {
    const s = running([agent]);
    tick(s);
    const waitFor = (result: RunInput & { type: "attemptFinished" }) => feed(s, result);
    const w = waitFor({
      type: "attemptFinished",
      nodeId: "ag",
      attempt: 1,
      result: { wait: { until: T0 + 5000, event: "approve:ag:t1.c0", detail: { approval: { tool: "t" } } } },
    });
    expect(eventData(w, "node.waiting")).toEqual({
      until: new Date(T0 + 5000).toISOString(),
      event: "approve:ag:t1.c0",
      detail: { approval: { tool: "t" } },
    });
    const woke = feed(s, { type: "eventReceived", name: "approve:ag:t1.c0", payload: { approved: true } });
    expect(events(woke)).toEqual(["event.received", "node.progress:ag"]);
    expect(command(woke, "recordWake")).toEqual({
      type: "recordWake",
      nodeId: "ag",
      key: "approve:ag:t1.c0",
      value: { name: "approve:ag:t1.c0", payload: { approved: true }, received_at: new Date(T0).toISOString() },
    });
    expect(command(woke, "launchAttempt")).toEqual({ type: "launchAttempt", nodeId: "ag", attempt: 1, resume: true });
    expect(s.nodes.get("ag")).toMatchObject({ status: "running", attempt: 1, wait_event: null });

    waitFor({ type: "attemptFinished", nodeId: "ag", attempt: 1, result: { child: { execution_id: "ex_c" } } });
    const ended = { status: "failed", output: null, error: { code: "x", message: "no" } };
    const child = feed(s, { type: "childFinished", childId: "ex_c", result: ended });
    expect(command(child, "recordWake")).toMatchObject({ key: "child:ex_c", value: ended });
    expect(command(child, "launchAttempt")).toMatchObject({ resume: true });
    expect(s.nodes.get("ag")?.status).toBe("running");

    waitFor({
      type: "attemptFinished",
      nodeId: "ag",
      attempt: 1,
      result: { wait: { until: T0 + 100, event: "approve:ag:t2.c0" } },
    });
    const late = tick(s, T0 + 200, []);
    expect(command(late, "recordWake")).toMatchObject({ key: "approve:ag:t2.c0", value: { timed_out: true } });
    expect(command(late, "launchAttempt")).toMatchObject({ resume: true });
  });

  it("parked, records what woke it at once but runs the attempt only once it has its slot back", () => {
    const s = running([agent]);
    tick(s);
    feed(s, { type: "attemptFinished", nodeId: "ag", attempt: 1, result: { wait: { until: null, event: "ok:ag" } } });
    expect(command(feed(s, { type: "idle" }), "releaseSlot")).toBeDefined();
    const woke = feed(s, { type: "eventReceived", name: "ok:ag", payload: 1 }, T0 + 10);
    expect(command(woke, "recordWake")).toMatchObject({ key: "ok:ag" });
    expect(launched(woke)).toEqual([]);
    expect(s.exec.parked).toEqual({ at: T0, wanted: "interactive" });
    expect(launched(tick(s, T0 + 20))).toEqual([]);
    feed(s, { type: "slotGranted" }, T0 + 30);
    expect(s.exec.parked).toBeNull();
    expect(launched(tick(s, T0 + 30))).toEqual(["ag#1 resume"]);
  });

  it("cancels the child an agent waits for when the run ends", () => {
    const s = running([agent]);
    tick(s);
    feed(s, { type: "attemptFinished", nodeId: "ag", attempt: 1, result: { child: { execution_id: "ex_c" } } });
    const r = feed(s, { type: "cancelRequested", message: "stop" });
    expect(command(r, "cancelChildren")).toMatchObject({ ids: ["ex_c"] });
  });
});

describe("execution reducer: projection and parent notices", () => {
  it("backs off failed projections and parent notices on the same timer, and clears it once projected", () => {
    const s = running([t("a")]);
    feed(s, { type: "projectionFailed" }, T0);
    expect(s.exec).toMatchObject({ flush_attempts: 1, flush_due_at: T0 + projectionRetryDelay(1) });
    // A projection that covered less than the log (events arrived meanwhile) arms the next one.
    feed(s, { type: "projected", upTo: s.lastSeq - 1, labels: true }, T0 + 10);
    expect(s.exec).toMatchObject({
      flush_attempts: 0,
      flush_due_at: T0 + 10 + FLUSH_MS,
      labels_projected: 1,
      projected_seq: s.lastSeq - 1,
    });
    expect(unprojected(s)).toEqual({ nodeIds: [], upTo: s.lastSeq, any: true });
    feed(s, { type: "parentNotifyFailed" }, T0 + 20);
    expect(s.exec.flush_due_at).toBe(T0 + 10 + FLUSH_MS); // the sooner of the two
    expect(projectionRetryDelay(1)).toBe(1000);
    expect(projectionRetryDelay(30)).toBe(60_000);
  });

  it("fails the run loudly when an output kept in R2 is gone", () => {
    const s = running([t("a")]);
    const r = feed(s, { type: "outputMissing", nodeId: "a", ref: "r2://x" });
    expect(events(r)).toEqual(["node.cancelled:a", "execution.failed"]);
    expect(s.exec.error_code).toBe("output_missing");
  });
});

import { describe, expect, it } from "vitest";
import { applyEvent, emptyRun, replay, spans } from "../../../dashboard/src/model/replay";
import type { EventEnvelope } from "../../../dashboard/src/model/types";
import type { EventType } from "../../../src/engine/events";

let seq = 0;
const t0 = Date.parse("2026-11-27T10:00:00.000Z");
function ev(
  type: EventType,
  node_id: string | undefined,
  at: number,
  data: Record<string, unknown> = {},
  attempt?: number,
) {
  return { seq: ++seq, type, execution_id: "ex_1", node_id, attempt, at: new Date(t0 + at).toISOString(), data };
}

function log(): EventEnvelope[] {
  seq = 0;
  return [
    ev("execution.queued", undefined, 0),
    ev("execution.started", undefined, 1),
    ev("node.started", "a", 2, { kind: "http" }, 1),
    ev(
      "node.retrying",
      "a",
      10,
      { error: { code: "http_503", message: "503" }, next_attempt_at: "2026-11-27T10:00:01.010Z" },
      1,
    ),
    ev("node.started", "a", 1010, { kind: "http" }, 2),
    ev("node.succeeded", "a", 1020, { output: { ok: true } }, 2),
    ev("node.started", "w", 1021, {}, 1),
    ev("node.waiting", "w", 1022, { event: "go", until: null }, 1),
    ev("event.received", undefined, 2000, { name: "go" }),
    ev("node.succeeded", "w", 2001, { output: { name: "go" } }, 1),
    ev("node.skipped", "b", 2002, { reason: "when_false" }),
    ev("execution.succeeded", undefined, 2003),
  ];
}

describe("replaying an execution's event log", () => {
  it("gives every node's status at any seq, as the scrubber shows it", () => {
    const events = log();
    const ids = ["a", "w", "b"];
    const at = (s: number) => replay(ids, events, s);
    expect(at(0)).toMatchObject({ seq: 0, status: "queued", nodes: { a: { status: "pending" } } });
    expect(at(3).nodes.a).toMatchObject({ status: "running", attempts: 1 });
    expect(at(4).nodes.a).toMatchObject({
      status: "retrying",
      error: { code: "http_503" },
      next_attempt_at: "2026-11-27T10:00:01.010Z",
    });
    expect(at(5).nodes.a).toMatchObject({ status: "running", attempts: 2, error: null, next_attempt_at: null });
    expect(at(8).nodes.w).toMatchObject({ status: "waiting", waiting_for: { event: "go", until: null } });
    const end = at(Infinity);
    expect(end.status).toBe("succeeded");
    expect(end.nodes.a).toMatchObject({ status: "succeeded", output: { ok: true }, started_at: events[2]!.at });
    expect(end.nodes.b).toMatchObject({ status: "skipped", skipped: { reason: "when_false" } });
  });

  it("folds live events one by one into the same state, ignoring a repeat of a seq it has seen", () => {
    const events = log();
    let run = emptyRun(["a", "w", "b"]);
    const seen: string[] = [];
    for (const e of events) {
      const before = run;
      run = applyEvent(run, e);
      seen.push(run.nodes.a!.status);
      expect(applyEvent(run, e)).toBe(run);
      if (e.node_id) expect(before.nodes[e.node_id]).not.toBe(run.nodes[e.node_id]);
    }
    expect(run).toEqual(replay(["a", "w", "b"], events));
    expect(seen.slice(2, 6)).toEqual(["running", "retrying", "running", "succeeded"]);
  });

  it("resets the redriven nodes to pending and keeps their attempt count", () => {
    seq = 0;
    const events = [
      ev("node.started", "a", 0, {}, 1),
      ev("node.failed", "a", 1, { error: { code: "boom", message: "no" } }, 1),
      ev("execution.failed", undefined, 2),
      ev("execution.redriven", undefined, 3, { from_node: "a", reset: ["a"] }),
    ];
    const run = replay(["a"], events);
    expect(run.status).toBe("queued");
    expect(run.nodes.a).toMatchObject({ status: "pending", attempts: 1, error: null });
  });

  it("names the child run a workflow node waits for, and keeps the link after it ends", () => {
    seq = 0;
    const run = replay(
      ["sub"],
      [
        ev("node.started", "sub", 0, { kind: "workflow" }, 1),
        ev("node.waiting", "sub", 1, { event: "child:ex_2", until: null, child: { execution_id: "ex_2" } }, 1),
        ev("node.succeeded", "sub", 9, { output: { execution_id: "ex_2", output: 1 } }, 1),
      ],
    );
    expect(run.nodes.sub).toMatchObject({ status: "succeeded", child: "ex_2" });
  });

  it("counts a map node's items from its progress events", () => {
    seq = 0;
    const counts = { total: 4, pending: 1, running: 1, succeeded: 2, failed: 0 };
    const run = replay(["m"], [ev("node.started", "m", 0, {}, 1), ev("node.progress", "m", 5, { items: counts })]);
    expect(run.nodes.m).toMatchObject({ status: "running", items: counts });
    const final = { total: 4, pending: 0, running: 0, succeeded: 3, failed: 1 };
    const ended = replay(
      ["m"],
      [
        ev("node.started", "m", 0, {}, 1),
        ev("node.progress", "m", 5, { items: counts }),
        ev("node.succeeded", "m", 9, { output: [], items: final }),
      ],
    );
    expect(ended.nodes.m).toMatchObject({ status: "succeeded", items: final });
  });
});

describe("an agent's waits", () => {
  it("shows what it waits to have approved, then running again once it resumed", () => {
    seq = 0;
    const approval = { approval: { step: "t1.c0", tool: "refund", input: { n: 10 } } };
    const waiting = replay(
      ["ag"],
      [
        ev("node.started", "ag", 0, {}, 1),
        ev("node.waiting", "ag", 5, { event: "approve:ag:t1.c0", until: null, detail: approval }, 1),
      ],
    );
    expect(waiting.nodes.ag).toMatchObject({
      status: "waiting",
      waiting_for: { event: "approve:ag:t1.c0", until: null, detail: approval },
    });
    seq = 0;
    const resumed = replay(
      ["ag"],
      [
        ev("node.started", "ag", 0, {}, 1),
        ev("node.waiting", "ag", 5, { event: "approve:ag:t1.c0", until: null, detail: approval }, 1),
        ev("node.progress", "ag", 9, { reason: "resumed", wake: "approve:ag:t1.c0" }, 1),
      ],
    );
    expect(resumed.nodes.ag).toMatchObject({ status: "running", waiting_for: null, attempts: 1 });
    seq = 0;
    const bars = spans([
      ev("node.started", "ag", 0, {}, 1),
      ev("node.delta", "ag", 2, { text: "Let me", offset: 0 }, 1),
      ev("node.waiting", "ag", 5, { event: "approve:ag:t1.c0", until: null, detail: approval }, 1),
      ev("node.progress", "ag", 9, { reason: "resumed", wake: "approve:ag:t1.c0" }, 1),
      ev("node.succeeded", "ag", 12, { output: {} }, 1),
    ]).map((s) => [s.kind, s.start - t0, s.end! - t0, s.outcome]);
    // Streamed text does not end the attempt's bar; the wait ends where the loop went on.
    expect(bars).toEqual([
      ["attempt", 0, 5, "waiting"],
      ["wait", 5, 9, "resumed"],
      ["attempt", 9, 12, "succeeded"],
    ]);
  });
});

describe("the timeline's spans", () => {
  it("has one bar per attempt, the retry delay between them, and the wait", () => {
    const out = spans(log()).map((s) => [s.node_id, s.kind, s.attempt, s.start - t0, s.end! - t0, s.outcome]);
    expect(out).toEqual([
      ["a", "attempt", 1, 2, 10, "retrying"],
      ["a", "retry_delay", 1, 10, 1010, null],
      ["a", "attempt", 2, 1010, 1020, "succeeded"],
      ["w", "attempt", 1, 1021, 1022, "waiting"],
      ["w", "wait", 1, 1022, 2001, "succeeded"],
    ]);
  });

  it("leaves a running attempt open, and closes everything open when the run is cancelled", () => {
    seq = 0;
    const running = [ev("node.started", "a", 0, {}, 1)];
    expect(spans(running)[0]).toMatchObject({ end: null, outcome: null });
    const cancelled = spans([...running, ev("execution.cancelled", undefined, 50)]);
    expect(cancelled[0]).toMatchObject({ end: t0 + 50, outcome: "cancelled" });
  });
});

import { describe, expect, it } from "vitest";
import { withDelta, type Streams } from "../../../dashboard/src/model/deltas";
import type { EventEnvelope } from "../../../dashboard/src/model/types";

let seq = 0;
const delta = (node: string, attempt: number, text: string, offset: number): EventEnvelope => ({
  seq: ++seq,
  type: "node.delta",
  execution_id: "ex_1",
  node_id: node,
  attempt,
  at: "2026-12-05T00:00:00.000Z",
  data: { text, offset },
});

describe("streamed text", () => {
  it("puts each piece at its offset, restarts at 0, and keeps only the latest attempt", () => {
    const events = [
      delta("a", 1, "The tide ", 0),
      delta("b", 1, "other", 0),
      delta("a", 1, "came", 9),
      delta("a", 1, "The tide ", 0), // the attempt ran again after a crash
      delta("a", 1, "rose", 9),
      delta("a", 2, "Ebb", 0),
      delta("a", 1, " late", 13), // a straggler of an older attempt
      delta("a", 2, " and flow", 3),
    ];
    const s: Streams = events.reduce(withDelta, {});
    expect(s).toEqual({ a: { attempt: 2, text: "Ebb and flow" }, b: { attempt: 1, text: "other" } });
  });
});

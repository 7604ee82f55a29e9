import { describe, expect, it } from "vitest";
import {
  approvalResult,
  dueActions,
  duration,
  nextActionAt,
  tally,
  type ApprovalPlan,
} from "../../../src/engine/approval";

const H = 3_600_000;
const plan = (over: Partial<ApprovalPlan> = {}): ApprovalPlan => ({
  created_at: 0,
  remind_every_ms: H,
  escalate: [{ after_ms: 3 * H, to: ["boss@x.example"] }],
  timeout: { after_ms: 5 * H, action: "reject" },
  reminders_sent: 0,
  escalations: 0,
  ...over,
});

describe("approval rules", () => {
  it("reads durations as people write them", () => {
    expect(duration.parse("90s")).toBe(90_000);
    expect(duration.parse("4h")).toBe(4 * H);
    expect(duration.parse("7d")).toBe(7 * 24 * H);
    expect(duration.parse(60_000)).toBe(60_000);
    for (const bad of ["soon", "0h", "1w", "400d", 10, "1.5h"]) expect(duration.safeParse(bad).success).toBe(false);
  });

  it("settles at the quorum, and rejects once the rest cannot reach it", () => {
    const three = ["a", "b", "c"];
    expect(tally(three, 2, [{ decision: "approve" }])).toBe("pending");
    expect(tally(three, 2, [{ decision: "approve" }, { decision: "approve" }])).toBe("approved");
    expect(tally(three, 2, [{ decision: "reject" }])).toBe("pending");
    expect(tally(three, 2, [{ decision: "reject" }, { decision: "reject" }])).toBe("rejected");
    expect(tally(["a"], 1, [{ decision: "reject" }])).toBe("rejected");
    expect(tally(three, 3, [{ decision: "reject" }])).toBe("rejected");
  });

  it("owes one reminder at a time, escalates in order, and ends at the timeout", () => {
    expect(dueActions(plan(), H / 2)).toMatchObject({ remind: false, escalate: [], next_action_at: H });
    expect(dueActions(plan(), H)).toMatchObject({ remind: true, reminders_sent: 1, next_action_at: 2 * H });
    // A tick that comes late sends one reminder, not the backlog.
    expect(dueActions(plan(), 2.5 * H)).toMatchObject({ remind: true, reminders_sent: 2, next_action_at: 3 * H });
    const at3 = dueActions(plan({ reminders_sent: 2 }), 3 * H);
    expect(at3).toMatchObject({ remind: true, escalate: [{ index: 0 }], escalations: 1, next_action_at: 4 * H });
    expect(dueActions(plan({ reminders_sent: 4, escalations: 1 }), 5 * H)).toMatchObject({
      timed_out: true,
      remind: false,
      next_action_at: null,
    });
    expect(nextActionAt(plan({ remind_every_ms: null, escalate: [], timeout: null }))).toBeNull();
  });

  it("turns a settlement into the node's output or failure", () => {
    const d = [{ approver: "a", decision: "approve" as const, at: "t", comment: null, data: { amount: 40 } }];
    expect(approvalResult("apr_1", "approved", null, d)).toEqual({
      ok: true,
      output: {
        approval_id: "apr_1",
        decision: "approved",
        approved: true,
        timed_out: false,
        decisions: d,
        data: { amount: 40 },
      },
    });
    expect(approvalResult("apr_1", "timed_out", "approve", [])).toMatchObject({
      ok: true,
      output: { decision: "approved", timed_out: true, data: null },
    });
    expect(approvalResult("apr_1", "timed_out", "fail", [])).toMatchObject({ ok: false, code: "approval_timeout" });
  });
});

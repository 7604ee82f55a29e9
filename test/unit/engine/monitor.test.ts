import { describe, expect, it } from "vitest";
import { checkCron, nextRunAfter } from "../../../src/engine/cron";
import {
  alertRetryDelay,
  applyCheck,
  cooldownAllows,
  failedExpectations,
  readableText,
  type CheckOutcome,
  type MonitorState,
} from "../../../src/engine/monitor";

const t = { failure_threshold: 3, recovery_threshold: 2, unreachable_threshold: 2 };
const fresh: MonitorState = {
  status: "unknown",
  consecutive_failures: 0,
  consecutive_successes: 0,
  consecutive_unreachable: 0,
};
function runChecks(results: (boolean | CheckOutcome)[], start: MonitorState = fresh) {
  let s = start;
  const transitions: (string | null)[] = [];
  for (const r of results) {
    const next = applyCheck(s, r === true ? "up" : r === false ? "gone" : r, t);
    transitions.push(next.transition);
    s = next;
  }
  return { state: s, transitions };
}

describe("monitor thresholds", () => {
  it("goes down only after failure_threshold consecutive failures", () => {
    const r = runChecks([true, false, false, true, false, false, false, false]);
    expect(r.transitions).toEqual([null, null, null, null, null, null, "down", null]);
    expect(r.state).toMatchObject({ status: "down", consecutive_failures: 4 });
  });

  it("recovers only after recovery_threshold consecutive successes", () => {
    const down: MonitorState = {
      status: "down",
      consecutive_failures: 5,
      consecutive_successes: 0,
      consecutive_unreachable: 0,
    };
    const r = runChecks([true, false, true, true, true], down);
    expect(r.transitions).toEqual([null, null, null, "up", null]);
    expect(r.state.status).toBe("up");
  });

  it("tells a blocked or rate-limited check from a removed post: unreachable never counts as down", () => {
    const blocked = runChecks([true, "unreachable", "unreachable", "unreachable", "unreachable"]);
    expect(blocked.transitions).toEqual([null, null, "unreachable", null, null]);
    expect(blocked.state).toMatchObject({ status: "unreachable", consecutive_failures: 0, consecutive_unreachable: 4 });
    // Unreachable checks neither count towards down nor break a run of gone ones.
    const mixed = runChecks([true, false, "unreachable", false, "unreachable", false]);
    expect(mixed.transitions).toEqual([null, null, null, null, null, "down"]);
    // From unreachable, a gone threshold still goes down; a down monitor stays down while checks cannot see.
    const thenGone = runChecks(["unreachable", "unreachable", false, false, false, "unreachable"]);
    expect(thenGone.transitions).toEqual([null, "unreachable", null, null, "down", null]);
    expect(thenGone.state.status).toBe("down");
    // Back up after recovery_threshold successes, with an alert.
    expect(runChecks(["unreachable", "unreachable", true, true]).transitions).toEqual([
      null,
      "unreachable",
      null,
      "up",
    ]);
  });

  it("compares body text as a reader sees it: entities decoded, whitespace collapsed", async () => {
    expect(readableText("Tom &amp; Jerry&#39;s\n  big&nbsp;day &rsquo;")).toBe("Tom & Jerry's big day \u2019");
    const page = "<h1>Tom &amp; Jerry&#x27;s\n   launch</h1>";
    expect(await failedExpectations({ body_contains: "Tom & Jerry's launch" }, page)).toEqual([]);
    expect(await failedExpectations({ body_not_contains: "[removed]" }, "<p>&#91;removed&#93;</p>")).toEqual([
      'body_not_contains "[removed]": found',
    ]);
  });

  it("starts unknown, turns up on the first success without an alert", () => {
    expect(runChecks([true]).state.status).toBe("up");
    expect(runChecks([true]).transitions).toEqual([null]);
  });

  it("applies cooldowns and backs alert retries off", () => {
    expect(cooldownAllows(null, 0, 60)).toBe(true);
    expect(cooldownAllows(1000, 60_999, 60)).toBe(false);
    expect(cooldownAllows(1000, 61_000, 60)).toBe(true);
    expect([1, 2, 3, 10].map(alertRetryDelay)).toEqual([30_000, 60_000, 120_000, 3_600_000]);
  });
});

describe("cron", () => {
  it("validates expressions and time zones", () => {
    expect(checkCron("*/5 * * * *", "UTC")).toBeNull();
    expect(checkCron("61 * * * *", "UTC")).toMatch(/^invalid cron expression/);
    expect(checkCron("* * * * *", "Mars/Olympus")).toBe('unknown time zone "Mars/Olympus"');
  });

  it("computes the next run in the schedule's time zone, strictly after the given time", () => {
    const at = Date.parse("2026-11-23T14:00:00Z"); // 09:00 in New York
    expect(new Date(nextRunAfter("0 9 * * *", "America/New_York", at) as number).toISOString()).toBe(
      "2026-11-24T14:00:00.000Z",
    );
    expect(new Date(nextRunAfter("0 9 * * *", "America/New_York", at - 1) as number).toISOString()).toBe(
      "2026-11-23T14:00:00.000Z",
    );
  });
});

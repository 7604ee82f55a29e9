import { describe, expect, it } from "vitest";
import { checkCron, nextRunAfter } from "../../../src/engine/cron";
import { alertRetryDelay, applyCheck, cooldownAllows, type MonitorState } from "../../../src/engine/monitor";

const t = { failure_threshold: 3, recovery_threshold: 2 };
function runChecks(
  results: boolean[],
  start: MonitorState = { status: "unknown", consecutive_failures: 0, consecutive_successes: 0 },
) {
  let s = start;
  const transitions: (string | null)[] = [];
  for (const ok of results) {
    const next = applyCheck(s, ok, t);
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
    const down: MonitorState = { status: "down", consecutive_failures: 5, consecutive_successes: 0 };
    const r = runChecks([true, false, true, true, true], down);
    expect(r.transitions).toEqual([null, null, null, "up", null]);
    expect(r.state.status).toBe("up");
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

import { describe, expect, it } from "vitest";
import { admit, CLOSED, recordOutcome } from "../../../src/engine/breaker";

const cfg = { failure_threshold: 3, cooldown_ms: 1000 };

describe("circuit breaker", () => {
  it("opens after the threshold of consecutive failures and fails fast during the cool-down", () => {
    let s = CLOSED;
    for (let i = 0; i < 2; i++) s = recordOutcome(s, false, 0, cfg);
    expect(s.state).toBe("closed");
    s = recordOutcome(s, true, 0, cfg);
    for (let i = 0; i < 3; i++) s = recordOutcome(s, false, 100, cfg);
    expect(s).toMatchObject({ state: "open", opened_at: 100 });
    expect(admit(s, 600, cfg)).toMatchObject({ allowed: false, retry_after_ms: 500 });
  });

  it("lets one probe through after the cool-down; its outcome closes or reopens", () => {
    const open = { state: "open" as const, consecutive_failures: 3, opened_at: 0, probe_started_at: null };
    const probe = admit(open, 1000, cfg);
    expect(probe).toMatchObject({ allowed: true, next: { state: "half_open", probe_started_at: 1000 } });
    expect(admit(probe.next, 1001, cfg).allowed).toBe(false);
    expect(recordOutcome(probe.next, true, 1100, cfg)).toEqual(CLOSED);
    expect(recordOutcome(probe.next, false, 1100, cfg)).toMatchObject({ state: "open", opened_at: 1100 });
  });
});

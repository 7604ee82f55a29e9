import { describe, expect, it } from "vitest";
import { decideRetry, retryPolicySchema } from "../../../src/engine/retry";

const policy = retryPolicySchema.parse({
  max_attempts: 5,
  initial_delay_ms: 100,
  backoff_coefficient: 2,
  max_delay_ms: 1000,
  jitter: false,
});
const err = (over: Partial<{ code: string; retryable: boolean; retry_after_ms: number }> = {}) => ({
  code: "http_503",
  message: "x",
  retryable: true,
  ...over,
});

describe("retry decisions", () => {
  it("backs off exponentially up to the cap", () => {
    const delays = [1, 2, 3, 4].map((a) => decideRetry(policy, a, err(), () => 0.5));
    expect(delays).toEqual([100, 200, 400, 800].map((d) => ({ retry: true, delay_ms: d })));
    const capped = decideRetry({ ...policy, max_attempts: 10 }, 6, err(), () => 0.5);
    expect(capped).toEqual({ retry: true, delay_ms: 1000 });
  });

  it("stops after max_attempts, on fatal errors and on non_retryable codes", () => {
    expect(decideRetry(policy, 5, err(), Math.random)).toEqual({ retry: false, reason: "exhausted" });
    expect(decideRetry(policy, 1, err({ retryable: false }), Math.random)).toEqual({ retry: false, reason: "fatal" });
    expect(decideRetry({ ...policy, non_retryable: ["http_503"] }, 1, err(), Math.random)).toEqual({
      retry: false,
      reason: "non_retryable",
    });
  });

  it("draws full jitter from [0, backoff)", () => {
    const jittered = { ...policy, jitter: true };
    expect(decideRetry(jittered, 3, err(), () => 0)).toEqual({ retry: true, delay_ms: 0 });
    expect(decideRetry(jittered, 3, err(), () => 0.999)).toEqual({ retry: true, delay_ms: 399 });
  });

  it("treats Retry-After as a floor", () => {
    expect(decideRetry(policy, 1, err({ retry_after_ms: 5000 }), () => 0)).toEqual({ retry: true, delay_ms: 5000 });
    expect(decideRetry(policy, 3, err({ retry_after_ms: 10 }), () => 0)).toEqual({ retry: true, delay_ms: 400 });
  });
});

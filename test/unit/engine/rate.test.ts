import { describe, expect, it } from "vitest";
import { take } from "../../../src/engine/rate";

describe("token bucket", () => {
  it("allows a burst, then one request per refill interval", () => {
    let bucket = undefined as Parameters<typeof take>[0];
    const results: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const d = take(bucket, 60, 3, 0);
      bucket = d.bucket;
      results.push(d.allowed);
    }
    expect(results).toEqual([true, true, true, false]);
    const denied = take(bucket, 60, 3, 0);
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retry_after_seconds: 1 });
    expect(take(bucket, 60, 3, 1000)).toMatchObject({ allowed: true, remaining: 0 });
    expect(take(bucket, 60, 3, 10_000)).toMatchObject({ allowed: true, remaining: 2, reset_seconds: 1 });
  });
});

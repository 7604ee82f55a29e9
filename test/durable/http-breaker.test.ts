import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, targetCalls, waitFor, type Client } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

const get = (url: string, breaker: Record<string, number> | null, retry = { max_attempts: 2 }) => ({
  name: "call",
  nodes: [
    {
      id: "call",
      kind: "http",
      retry: { ...retry, initial_delay_ms: 10, max_delay_ms: 10, jitter: false },
      config: { url, ...(breaker ? { circuit_breaker: breaker } : {}) },
    },
  ],
});

async function done(api: Client, definition: unknown) {
  return waitFor(api, (await run(api, definition)).executionId);
}

describe("http circuit breaker", () => {
  it("opens after failing calls to a host, fails the tenant's next calls there fast without sending them, and closes after a good probe", async () => {
    const api = client((await createTenant()).token);
    const k = key("cb");
    // The cool-down must outlast the three runs below that expect it open: at 600 ms, a run with another file
    // loading the machine found it closed again already (one attempt, not two).
    const cb = { failure_threshold: 2, cooldown_ms: 3000 };
    const failing = await done(api, get(target(`/status/503/${k}-a`), cb));
    expect(failing.nodes[0]).toMatchObject({ status: "failed", error: { code: "http_503" } });
    expect((await targetCalls(`${k}-a`)).calls).toHaveLength(2);

    // Open: another run of the tenant to the same host fails at once, and nothing reaches the host.
    const fast = await done(api, get(target(`/status/200/${k}-b`), cb, { max_attempts: 1 }));
    expect(fast.nodes[0]).toMatchObject({ status: "failed", error: { code: "circuit_open" } });
    expect(fast.nodes[0].error.message).toMatch(/circuit is open for \d+ ms more \(no request was sent\)/);
    expect((await targetCalls(`${k}-b`)).calls).toHaveLength(0);
    // A node without a breaker, and another tenant's node with one, still call the host.
    expect((await done(api, get(target(`/status/200/${k}-c`), null))).status).toBe("succeeded");
    const other = client((await createTenant()).token);
    expect((await done(other, get(target(`/status/200/${k}-d`), cb))).status).toBe("succeeded");

    // A retry waits out the cool-down (its delay is at least the breaker's), probes, and the host answers: closed.
    const waited = await done(api, get(target(`/status/200/${k}-e`), cb, { max_attempts: 3 }));
    expect(waited.status).toBe("succeeded");
    expect(waited.nodes[0].attempts).toBe(2);
    expect((await targetCalls(`${k}-e`)).calls).toHaveLength(1);
    expect((await done(api, get(target(`/status/200/${k}-f`), cb, { max_attempts: 1 }))).status).toBe("succeeded");
  });

  it("counts a 404 as an answer, not as the host failing", async () => {
    const api = client((await createTenant()).token);
    const k = key("cb404");
    const cb = { failure_threshold: 1, cooldown_ms: 60_000 };
    const missing = await done(api, get(target(`/status/404/${k}-a`), cb));
    expect(missing.nodes[0].error.code).toBe("http_404");
    expect((await done(api, get(target(`/status/200/${k}-b`), cb, { max_attempts: 1 }))).status).toBe("succeeded");
  });
});

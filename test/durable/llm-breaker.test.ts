import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

// Its own file: breakers are per provider and shared by every execution, and storage is isolated per file.
describe("provider circuit breaker", () => {
  it("opens after consecutive failures, fails fast without calling, and closes after a good probe", async () => {
    const api = client((await createTenant()).token);
    const k = `breaker-${Date.now()}`;
    const { executionId } = await run(api, {
      name: "down",
      nodes: [
        {
          id: "a",
          kind: "llm",
          retry: { max_attempts: 5, initial_delay_ms: 20, backoff_coefficient: 1, max_delay_ms: 20, jitter: false },
          config: { tier: "mid", messages: [{ role: "user", content: `[[key=${k}]] [[status=503]]` }] },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", attempts: 5, error: { code: "provider_503" } });
    const retries = ((await api.get(`/v1/executions/${executionId}/events?limit=1000`)).body.data as any[]).filter(
      (e) => e.type === "node.retrying",
    );
    // BREAKER_FAILURES is 3 in tests: after three 503s the 4th attempt fails fast without a call, and its retry
    // waits out the cool-down (500 ms) so the 5th attempt is the half-open probe, which fails and reopens it.
    expect(retries.map((e) => e.data.error.code)).toEqual([
      "provider_503",
      "provider_503",
      "provider_503",
      "circuit_open",
    ]);
    expect(retries[3].data.delay_ms).toBeGreaterThan(300);
    const served = ((await (await fetch(`${env.OPENAI_URL}/_calls/${k}`)).json()) as { calls: unknown[] }).calls;
    expect(served).toHaveLength(4);
    const mid = (await api.get("/v1/models")).body.data.find((t: any) => t.tier === "mid");
    expect(mid.breaker).toBe("open");

    // After the 500 ms cool-down one probe goes through; a healthy answer closes the circuit.
    await new Promise((r) => setTimeout(r, 600));
    const healthy = await run(api, {
      name: "up",
      nodes: [
        {
          id: "a",
          kind: "llm",
          config: { tier: "mid", messages: [{ role: "user", content: `[[key=${k}-ok]] hello` }] },
        },
      ],
    });
    expect((await waitFor(api, healthy.executionId)).status).toBe("succeeded");
    expect((await api.get("/v1/models")).body.data.find((t: any) => t.tier === "mid").breaker).toBe("closed");
  });
});

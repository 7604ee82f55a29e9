import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, targetCalls, waitFor } from "../support/api";

const orders = async (bucket: string) =>
  ((await (await fetch(target(`/_orders/${bucket}`))).json()) as { orders: { id: string }[] }).orders;

describe("one Idempotency-Key per node across its retries", () => {
  it("creates exactly one order when the server commits the first POST and then stalls past the timeout", async () => {
    const api = client((await createTenant()).token);
    const bucket = `commit-stall-${crypto.randomUUID()}`;
    const { executionId } = await run(api, {
      name: "order",
      nodes: [
        {
          id: "create",
          kind: "http",
          timeout_ms: 300,
          retry: { max_attempts: 3, initial_delay_ms: 20, jitter: false },
          config: { method: "POST", url: target(`/orders/${bucket}?delay_first=2000`), body: { sku: "FW-1", qty: 2 } },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].attempts).toBe(2);
    // The retry carried the first attempt's key, so the server answered with the order it had already made.
    expect(await orders(bucket)).toHaveLength(1);
    expect(done.nodes[0].output.body.id).toBe("ord-1");
    const calls = (await targetCalls(`orders-${bucket}`)).calls;
    expect(calls.map((c) => [c.idempotency_key, c.attempt])).toEqual([
      [`${executionId}:create`, "1"],
      [`${executionId}:create`, "2"],
    ]);
  });
});

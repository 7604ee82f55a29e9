import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor, waitForNode } from "../support/api";

describe("POST /v1/executions/:id/events", () => {
  it("refuses a name no wait_for_event node waits for, listing the names it does wait for", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "approvals",
      nodes: [
        { id: "nap", kind: "sleep", config: { duration_ms: 300 } },
        { id: "approve", kind: "wait_for_event", needs: ["nap"], config: { event: "approved" } },
        { id: "ship", kind: "wait_for_event", needs: ["approve"], config: { event: "shipped" } },
      ],
    });
    const typo = await api.post(`/v1/executions/${executionId}/events`, { name: "aproved" });
    expect(typo.status).toBe(422);
    expect(typo.body).toMatchObject({
      code: "unknown_event",
      waits_for: ["approved", "shipped"],
      errors: [{ path: "name" }],
    });
    expect(typo.body.detail).toContain('waits for "approved", "shipped"');
    // A known name sent before its node waits is still buffered and delivered later.
    expect(
      (await api.post(`/v1/executions/${executionId}/events`, { name: "shipped", payload: { n: 1 } })).status,
    ).toBe(202);
    await waitForNode(api, executionId, "approve", "waiting");
    expect((await api.post(`/v1/executions/${executionId}/events`, { name: "approved" })).body.delivered_to).toBe(
      "approve",
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const events = (await api.get(`/v1/executions/${executionId}/events?after=0`)).body.data;
    expect(
      events
        .filter((e: { type: string }) => e.type === "event.received")
        .map((e: { data: { name: string } }) => e.data.name),
    ).toEqual(["shipped", "approved"]);
  });

  it("answers 422 for any event to an execution with no wait_for_event node", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "plain",
      nodes: [{ id: "nap", kind: "sleep", config: { duration_ms: 2000 } }],
    });
    const res = await api.post(`/v1/executions/${executionId}/events`, { name: "anything" });
    expect(res.status).toBe(422);
    expect(res.body.waits_for).toEqual([]);
  });

  it("receives an event sent again with its Idempotency-Key once, answering the retry as the first", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "two-items",
      nodes: [
        { id: "first", kind: "wait_for_event", config: { event: "item" } },
        { id: "second", kind: "wait_for_event", needs: ["first"], config: { event: "item" } },
      ],
    });
    await waitForNode(api, executionId, "first", "waiting");
    const send = (payload: unknown, key: string) =>
      api.post(`/v1/executions/${executionId}/events`, { name: "item", payload }, { "idempotency-key": key });

    const sent = await send({ sku: "A" }, "item-1");
    expect(sent.status).toBe(202);
    expect(sent.body.delivered_to).toBe("first");
    await waitForNode(api, executionId, "second", "waiting");
    // A sender that lost the answer sends again: the same event, not a second item for the next wait.
    const again = await send({ sku: "A" }, "item-1");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual({ id: executionId, name: "item", delivered_to: "first" });
    expect((await api.get(`/v1/executions/${executionId}`)).body.status).toBe("running");

    // Five copies at once (a client's retry racing its first send): one is received, the others replay it.
    const racing = await Promise.all(Array.from({ length: 5 }, () => send({ sku: "C" }, "item-race")));
    expect(racing.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 202]);
    expect(new Set(racing.map((r) => r.body.delivered_to))).toEqual(new Set(["second"]));
    const reused = await send({ sku: "B" }, "item-1");
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe("idempotency_key_reused");
    const invalid = await send({ sku: "B" }, "item 2");
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe("invalid_idempotency_key");

    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    // The run has ended, yet a late retry of an event it received is still answered as that event, not 409.
    const late = await send({ sku: "A" }, "item-1");
    expect(late.status).toBe(200);
    expect(late.body.delivered_to).toBe("first");
    const events = (await api.get(`/v1/executions/${executionId}/events?after=0`)).body.data;
    expect(
      events
        .filter((e: { type: string }) => e.type === "event.received")
        .map((e: { data: { payload: { sku: string } } }) => e.data.payload.sku),
    ).toEqual(["A", "C"]);
  });
});

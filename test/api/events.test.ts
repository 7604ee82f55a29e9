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
});

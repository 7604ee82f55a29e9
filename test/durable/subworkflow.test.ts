import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor, waitForNode } from "../support/api";

describe("sub-workflows", () => {
  it("runs a child execution, links it to its parent, and uses its output", async () => {
    const api = client((await createTenant()).token);
    const child = (
      await api.post("/v1/workflows", {
        name: "child",
        nodes: [{ id: "double", kind: "transform", config: { expression: "input.n * 2" } }],
      })
    ).body.id;
    const { executionId } = await run(
      api,
      {
        name: "parent",
        nodes: [
          { id: "sub", kind: "workflow", config: { workflow_id: child, input: { n: "{{ input.n }}" } } },
          {
            id: "after",
            kind: "transform",
            needs: ["sub"],
            config: { expression: "nodes.sub.output.output.double + 1" },
          },
        ],
      },
      { n: 20 },
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ after: 41 });
    const childId = done.nodes[0].output.execution_id;
    // The node names its child in the view, so a client (the dashboard's link) need not dig in the output.
    expect(done.nodes[0].child).toEqual({ execution_id: childId });
    expect(done.nodes[1].child).toBeNull();
    // Its waiting event names the child as data too (the event name is child:<id> for the inbox).
    const events = (await api.get(`/v1/executions/${executionId}/events?limit=1000`)).body.data;
    const waiting = events.find((e: any) => e.type === "node.waiting" && e.node_id === "sub");
    expect(waiting.data.child).toEqual({ execution_id: childId });
    const childView = (await api.get(`/v1/executions/${childId}`)).body;
    expect(childView).toMatchObject({
      status: "succeeded",
      workflow_id: child,
      parent: { execution_id: executionId, node_id: "sub" },
    });
  });

  it("retries a failed child under the node's policy, then fails the parent", async () => {
    const api = client((await createTenant()).token);
    const child = (
      await api.post("/v1/workflows", {
        name: "bad child",
        nodes: [{ id: "x", kind: "http", config: { url: target(`/status/404/sub-${Date.now()}`) } }],
      })
    ).body.id;
    const { executionId } = await run(api, {
      name: "parent",
      nodes: [
        {
          id: "sub",
          kind: "workflow",
          retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
          config: { workflow_id: child },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "child_failed" } });
    const children = (await api.get(`/v1/executions?workflow_id=${child}`)).body.data;
    expect(children).toHaveLength(2);
    expect(
      (await api.post("/v1/workflows", { name: "p", nodes: [{ id: "s", kind: "workflow", config: {} }] })).status,
    ).toBe(400);
  });

  it("cancels the children a cancelled parent was waiting for", async () => {
    const api = client((await createTenant()).token);
    const child = (
      await api.post("/v1/workflows", {
        name: "slow child",
        nodes: [{ id: "w", kind: "wait_for_event", config: { event: "never" } }],
      })
    ).body.id;
    const { executionId } = await run(api, {
      name: "parent",
      nodes: [{ id: "sub", kind: "workflow", config: { workflow_id: child } }],
    });
    await waitForNode(api, executionId, "sub", "waiting");
    const childId =
      (await api.get(`/v1/executions?workflow_id=${child}`)).body.data[0]?.id ?? (await waitForChild(api, child));
    await api.post(`/v1/executions/${executionId}/cancel`);
    expect((await waitFor(api, executionId)).status).toBe("cancelled");
    expect((await waitFor(api, childId)).status).toBe("cancelled");
  });
});

async function waitForChild(api: ReturnType<typeof client>, workflowId: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const id = (await api.get(`/v1/executions?workflow_id=${workflowId}`)).body.data[0]?.id;
    if (id) return id;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("child never appeared");
}

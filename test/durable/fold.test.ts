// The one fold (src/engine/fold.mjs: the dashboard's live view and scrubber, and `edgeflow watch`) against the server's
// own view of the same execution, for every shape of run the engine has: retries, waits, skips, maps, children,
// failures, cancellation, redrive, approvals.
import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor, waitForNode, type Client } from "../support/api";
import { foldMatchesView as foldAgainst } from "../support/fold-check";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function foldMatchesView(api: Client, id: string) {
  const view = (await api.get(`/v1/executions/${id}`)).body;
  const folded = await foldAgainst(api, id, view, true);
  if (!folded) throw new Error(`the log of ${id} is too long to fold here`);
  return { view, folded };
}

describe("the one fold of the event log", () => {
  it("agrees with the server's view for retries, skips, maps, failures and waits", async () => {
    const api = client((await createTenant()).token);
    const k = key("fold");
    const { executionId } = await run(api, {
      name: "shapes",
      nodes: [
        {
          id: "flaky",
          kind: "http",
          retry: { max_attempts: 3, initial_delay_ms: 10, jitter: false },
          config: { url: target(`/flaky/${k}?fail=1`) },
        },
        { id: "skipped", kind: "transform", needs: ["flaky"], when: "false", config: { expression: "1" } },
        {
          id: "items",
          kind: "map",
          needs: ["flaky"],
          config: { items: "[1, 2, 3]", node: { kind: "transform", config: { expression: "item * 2" } } },
        },
        { id: "wait", kind: "wait_for_event", needs: ["items"], config: { event: "go" } },
        { id: "broken", kind: "transform", needs: ["wait"], config: { expression: "$error('no')" } },
      ],
    });
    await waitForNode(api, executionId, "wait", "waiting");
    // Mid-run too: a waiting node and a running execution fold the same.
    await foldMatchesView(api, executionId);
    await api.post(`/v1/executions/${executionId}/events`, { name: "go", payload: { by: "test" } });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    const { folded } = await foldMatchesView(api, executionId);
    expect(folded.nodes.flaky!.attempts).toBe(2);
    expect(folded.nodes.skipped!.status).toBe("skipped");
  });

  it("agrees after a redrive, a cancellation, a child run and an approval", async () => {
    const api = client((await createTenant()).token);
    const child = await api.post("/v1/workflows", {
      name: "child",
      nodes: [{ id: "c", kind: "transform", config: { expression: "'from the child'" } }],
    });
    const { executionId } = await run(
      api,
      {
        name: "parent",
        nodes: [
          { id: "sub", kind: "workflow", config: { workflow_id: child.body.id } },
          { id: "fails", kind: "transform", needs: ["sub"], config: { expression: "input.boom ? $error('boom') : 1" } },
        ],
      },
      { boom: true },
    );
    await waitFor(api, executionId);
    await foldMatchesView(api, executionId);
    expect((await api.post(`/v1/executions/${executionId}/redrive`, { input_patch: { boom: false } })).status).toBe(
      200,
    );
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
    await foldMatchesView(api, executionId);

    const asking = await run(api, {
      name: "asks",
      nodes: [
        { id: "ask", kind: "approval", config: { title: "ok?", approvers: ["lead"] } },
        { id: "never", kind: "transform", needs: ["ask"], config: { expression: "1" } },
      ],
    });
    await waitForNode(api, asking.executionId, "ask", "waiting");
    await foldMatchesView(api, asking.executionId);
    await api.post(`/v1/executions/${asking.executionId}/cancel`);
    await waitFor(api, asking.executionId);
    const { folded } = await foldMatchesView(api, asking.executionId);
    expect(folded.status).toBe("cancelled");
  });
});

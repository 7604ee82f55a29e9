import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

describe("executions end to end", () => {
  it("runs a chain of transforms and records every node", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const { executionId } = await run(api, {
      name: "chain",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "input.n + 1" } },
        { id: "b", kind: "transform", needs: ["a"], config: { expression: "nodes.a.output * 10" } },
      ],
    }, { n: 4 });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ b: 50 });
    expect(done.nodes.map((n: any) => [n.node_id, n.status, n.attempts])).toEqual([["a", "succeeded", 1], ["b", "succeeded", 1]]);
  });
});

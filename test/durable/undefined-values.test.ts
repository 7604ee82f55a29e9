import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";

const produce = { id: "a", kind: "transform", config: { expression: "{'id': 7}" } };

describe("a value that is not there fails the attempt instead of rendering empty", () => {
  it("fails an http node whose template reads a missing field, once, naming the field path and the expression", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "missing field",
      nodes: [
        produce,
        {
          id: "post",
          kind: "http",
          needs: ["a"],
          retry: { max_attempts: 3, initial_delay_ms: 10 },
          config: { url: target("/echo/undefined"), method: "POST", body: { order: "{{ nodes.a.output.order_id }}" } },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    const post = done.nodes.find((n: { node_id: string }) => n.node_id === "post");
    expect(post).toMatchObject({ status: "failed", attempts: 1, error: { code: "template_undefined" } });
    expect(post.error.message).toContain("config.body.order: {{ nodes.a.output.order_id }} has no value");
  });

  it("fails a transform whose expression matches nothing, and keeps a default written as a conditional", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "transforms",
      nodes: [
        produce,
        { id: "missing", kind: "transform", needs: ["a"], config: { expression: "nodes.a.output.name" } },
        {
          id: "defaulted",
          kind: "transform",
          needs: ["a"],
          config: { expression: "$exists(nodes.a.output.name) ? nodes.a.output.name : 'anonymous'" },
        },
        { id: "nulled", kind: "transform", needs: ["a"], config: { expression: "null" } },
      ],
    });
    const done = await waitFor(api, executionId);
    const byId = Object.fromEntries(done.nodes.map((n: { node_id: string }) => [n.node_id, n]));
    expect(byId.missing).toMatchObject({ status: "failed", error: { code: "template_undefined" } });
    expect(byId.missing.error.message).toContain("config.expression: {{ nodes.a.output.name }} has no value");
    expect(byId.defaulted).toMatchObject({ status: "succeeded", output: "anonymous" });
    expect(byId.nulled).toMatchObject({ status: "succeeded", output: null });
  });

  it("fails an execution whose concurrency_key renders to nothing, instead of running it without a key", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(
      api,
      { name: "keyed", concurrency_key: "{{ input.file_path }}", nodes: [produce] },
      {},
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.error.code).toBe("concurrency_key_error");
    expect(done.error.message).toContain("{{ input.file_path }} has no value");
  });

  it("fails a node that uses a missing value inside an expression: a concatenation, an object member, a when", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "strict inside expressions",
      nodes: [
        produce,
        {
          id: "confirm",
          kind: "transform",
          needs: ["a"],
          config: { expression: "'Order ' & nodes.a.output.id & ' at ' & nodes.a.output.outlet & '.'" },
        },
        {
          id: "post",
          kind: "http",
          needs: ["a"],
          config: {
            url: target("/echo/strict"),
            method: "POST",
            body: "{{ {'order': nodes.a.output.id, 'outlet': nodes.a.output.outlet} }}",
          },
        },
        {
          id: "gated",
          kind: "transform",
          needs: ["a"],
          when: "'x' & nodes.a.output.flag = 'xy'",
          config: { expression: "1" },
        },
        {
          id: "defaulted",
          kind: "transform",
          needs: ["a"],
          config: { expression: "'Order ' & nodes.a.output.id & ' at ' & (nodes.a.output.outlet ?? 'no outlet')" },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    const byId = Object.fromEntries(done.nodes.map((n: { node_id: string }) => [n.node_id, n]));
    expect(byId.confirm).toMatchObject({ status: "failed", attempts: 1, error: { code: "template_undefined" } });
    expect(byId.confirm.error.message).toContain(
      "config.expression: nodes.a.output.outlet has no value, used in a concatenation in {{ 'Order ' & nodes.a.output.id",
    );
    expect(byId.post).toMatchObject({ status: "failed", error: { code: "template_undefined" } });
    expect(byId.post.error.message).toContain(
      "config.body: nodes.a.output.outlet has no value, used as an object member",
    );
    expect(byId.gated).toMatchObject({ status: "failed", error: { code: "template_undefined" } });
    expect(byId.gated.error.message).toContain("when: nodes.a.output.flag has no value, used in a concatenation");
    expect(byId.defaulted).toMatchObject({ status: "succeeded", output: "Order 7 at no outlet" });
  });
});

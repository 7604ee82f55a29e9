import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

const returning = (expression: string, artifacts = "{{ nodes.make.output }}") => ({
  name: "files",
  nodes: [{ id: "make", kind: "transform", config: { expression }, artifacts }],
});

describe("artifacts: files a node returns", () => {
  it("refuses files that could escape the archive or collide, failing the node, and writes none of them", async () => {
    const api = client((await createTenant()).token);
    for (const [expression, message] of [
      ["[{'path': '../etc/passwd', 'content': 'x'}]", "artifacts[0]: a path has no empty, . or .. segment"],
      ["[{'path': '/abs.txt', 'content': 'x'}]", "artifacts[0]: a path is relative and uses /"],
      ["[{'path': 'a.txt', 'content': 'x'}, {'path': 'a.txt', 'content': 'y'}]", "artifacts[1]: a.txt is listed twice"],
      ["[{'path': 'a.txt', 'content': 42}]", "artifacts[0]: content is a string"],
      ["'just text'", "expected [{path, content}]"],
    ] as const) {
      const { executionId } = await run(api, returning(expression));
      const done = await waitFor(api, executionId);
      expect(done.nodes[0], expression).toMatchObject({
        status: "failed",
        attempts: 1,
        error: { code: "invalid_artifacts" },
      });
      expect(done.nodes[0].error.message).toContain(message);
      expect((await env.ARTIFACTS.list({ prefix: `executions/${executionId}/` })).objects).toEqual([]);
    }
  });

  it("fails the node when the template reads a missing value, and lists nothing for a run without files", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, returning("{'a': 1}", "{{ nodes.make.output.files }}"));
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", error: { code: "template_undefined" } });
    expect(done.nodes[0].error.message).toContain("artifacts: {{ nodes.make.output.files }} has no value");
    expect((await api.get(`/v1/executions/${executionId}/artifacts`)).body.data).toEqual([]);
  });

  it("refuses artifacts on a map node at save, and another tenant's run's files are not found", async () => {
    const api = client((await createTenant()).token);
    const refused = await api.post("/v1/workflows", {
      name: "map files",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } },
          artifacts: "{{ nodes.m.output }}",
        },
      ],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0]).toMatchObject({ path: "nodes[0].artifacts" });
    const { executionId } = await run(api, returning("[{'path': 'a.txt', 'content': 'hello'}]"));
    await waitFor(api, executionId);
    expect((await api.get(`/v1/executions/${executionId}/artifacts`)).body.data).toEqual([
      { node_id: "make", path: "a.txt", bytes: 5 },
    ]);
    const other = client((await createTenant()).token);
    const res = await other.get(`/v1/executions/${executionId}/artifacts.zip`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("execution_not_found");
  });
});

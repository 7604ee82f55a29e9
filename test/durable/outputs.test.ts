import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/hash";
import { client, createTenant, projection, run, target, waitFor } from "../support/api";

const big = (id: string, kib: number, needs: string[] = []) => ({
  id,
  kind: "http",
  needs,
  config: { url: target(`/big/${kib}`), max_response_bytes: 8 * 1024 * 1024 },
});

async function r2Keys(executionId: string): Promise<string[]> {
  return (await env.ARTIFACTS.list({ prefix: `executions/${executionId}/` })).objects.map((o) => o.key);
}

describe("outputs too big for a row go to R2", () => {
  it("passes a 3 MiB response to a downstream node and the output endpoint, while D1 and the view hold only a reference", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const { executionId } = await run(api, {
      name: "big",
      nodes: [
        big("fetch", 3 * 1024),
        {
          id: "count",
          kind: "transform",
          needs: ["fetch"],
          config: {
            expression: "{'items': $count(nodes.fetch.output.body.items), 'last': nodes.fetch.output.body.items[-1].i}",
          },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const fetch = done.nodes.find((n: { node_id: string }) => n.node_id === "fetch");
    expect(fetch.output).toEqual({
      $ref: `r2://executions/${executionId}/fetch/1`,
      bytes: expect.any(Number),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(fetch.output.bytes).toBeGreaterThan(3 * 1024 * 1024);
    const items = Math.ceil((3 * 1024 * 1024) / 100);
    expect(done.nodes.find((n: { node_id: string }) => n.node_id === "count").output).toEqual({
      items,
      last: items - 1,
    });

    // D1 keeps the reference only.
    const row = (await projection(executionId))?.nodes.find((n) => n.node_id === "fetch");
    expect(row?.output).toEqual(fetch.output);
    expect(JSON.stringify(row?.output).length).toBeLessThan(300);

    // The endpoint streams the whole value, exactly what was stored.
    const res = await exports.default.fetch(`http://edgeflow.test/v1/executions/${executionId}/nodes/fetch/output`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const text = await res.text();
    expect(text.length).toBe(fetch.output.bytes);
    expect(await sha256Hex(text)).toBe(fetch.output.sha256);
    expect(JSON.parse(text).body.items).toHaveLength(items);
    // A small output is answered inline; an unknown node and an unfinished one are refused clearly.
    expect((await api.get(`/v1/executions/${executionId}/nodes/count/output`)).body).toEqual({
      items,
      last: items - 1,
    });
    expect((await api.get(`/v1/executions/${executionId}/nodes/nope/output`)).body.code).toBe("node_not_found");

    // Erasure takes the stored outputs with it.
    expect(await r2Keys(executionId)).toEqual([`executions/${executionId}/fetch/1`]);
    expect((await api.del(`/v1/executions/${executionId}`)).status).toBe(204);
    expect(await r2Keys(executionId)).toEqual([]);
  });

  it("stores a map node's collected outputs past the inline size in R2, and downstream nodes read them whole", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "wide-map",
      nodes: [
        {
          id: "each",
          kind: "map",
          config: {
            items: "[1..2000]",
            max_concurrency: 100,
            node: { kind: "transform", config: { expression: "{'i': item, 'pad': $pad('', 90, 'x')}" } },
          },
        },
        {
          id: "sum",
          kind: "transform",
          needs: ["each"],
          config: {
            expression: "{'n': $count(nodes.each.output.results), 'total': $sum(nodes.each.output.results.i)}",
          },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const each = done.nodes.find((n: { node_id: string }) => n.node_id === "each");
    expect(each.output).toMatchObject({ $ref: `r2://executions/${executionId}/each/1` });
    expect(each.output.bytes).toBeGreaterThan(200_000);
    expect(done.nodes.find((n: { node_id: string }) => n.node_id === "sum").output).toEqual({
      n: 2000,
      total: 2001000,
    });
  });

  it("fails the node that would take an execution past OUTPUT_BUDGET_BYTES with output_budget_exceeded", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "over budget",
      nodes: [big("a", 3 * 1024), big("b", 3 * 1024, ["a"]), big("c", 3 * 1024, ["b"])],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    const byId = Object.fromEntries(done.nodes.map((n: { node_id: string }) => [n.node_id, n]));
    expect(byId.a.status).toBe("succeeded");
    expect(byId.b.status).toBe("succeeded");
    expect(byId.c).toMatchObject({ status: "failed", attempts: 1, error: { code: "output_budget_exceeded" } });
    expect(byId.c.error.message).toContain("OUTPUT_BUDGET_BYTES (8388608");
    expect((await api.get(`/v1/executions/${executionId}/nodes/c/output`)).body.code).toBe("output_not_ready");
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor } from "../support/api";

const def = (name: string, expression = "input") => ({
  name,
  nodes: [{ id: "only", kind: "transform", config: { expression } }],
});

describe("workflow definitions", () => {
  it("creates version 1, publishes n+1, and keeps old versions immutable and runnable", async () => {
    const api = client((await createTenant()).token);
    const created = await api.post("/v1/workflows", def("v", "'one'"));
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/v1/workflows/${created.body.id}`);
    expect(created.body).toMatchObject({ name: "v", version: 1, latest_version: 1 });
    const id = created.body.id;

    const v2 = await api.put(`/v1/workflows/${id}`, def("v", "'two'"));
    expect(v2.status).toBe(200);
    expect(v2.body.version).toBe(2);
    const v3 = await api.put(`/v1/workflows/${id}`, def("v", "'three'"));
    expect(v3.body.version).toBe(3);

    expect((await api.get(`/v1/workflows/${id}`)).body).toMatchObject({ version: 3, latest_version: 3 });
    const old = await api.get(`/v1/workflows/${id}?version=1`);
    expect(old.body.definition.nodes[0].config.expression).toBe("'one'");
    expect((await api.get(`/v1/workflows/${id}/versions`)).body.data.map((v: any) => v.version)).toEqual([3, 2, 1]);
    expect((await api.get(`/v1/workflows/${id}?version=9`)).body.code).toBe("version_not_found");

    const runV1 = await api.post(`/v1/workflows/${id}/executions`, { version: 1 });
    const runLatest = await api.post(`/v1/workflows/${id}/executions`, {});
    expect((await waitFor(api, runV1.body.id)).output).toEqual({ only: "one" });
    expect((await waitFor(api, runLatest.body.id)).output).toEqual({ only: "three" });
    expect(runLatest.body.version).toBe(3);

    // if_changed=true publishes only a real change: the same definition (with its defaults written out or not,
    // and a "$schema" for editors) leaves version 3 as it is; a changed one publishes 4.
    const same = await api.put(`/v1/workflows/${id}?if_changed=true`, {
      $schema: "https://edgeflow.example/schemas/workflow.json",
      ...def("v", "'three'"),
      max_parallel: 8,
    });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ version: 3, latest_version: 3, changed: false });
    const changed = await api.put(`/v1/workflows/${id}?if_changed=true`, def("v", "'four'"));
    expect(changed.body).toMatchObject({ version: 4, changed: true });
    expect((await api.put(`/v1/workflows/${id}?if_changed=maybe`, def("v"))).status).toBe(400);
  });

  it("gives concurrent publishes distinct versions", async () => {
    const api = client((await createTenant()).token);
    const id = (await api.post("/v1/workflows", def("race"))).body.id;
    const results = await Promise.all(Array.from({ length: 5 }, () => api.put(`/v1/workflows/${id}`, def("race"))));
    expect(results.map((r) => r.body.version).sort()).toEqual([2, 3, 4, 5, 6]);
  });

  it("soft-deletes: the workflow disappears but its running executions finish", async () => {
    const api = client((await createTenant()).token);
    const id = (
      await api.post("/v1/workflows", {
        name: "slow",
        nodes: [{ id: "z", kind: "sleep", config: { duration_ms: 300 } }],
      })
    ).body.id;
    const ex = await api.post(`/v1/workflows/${id}/executions`, {});
    expect((await api.del(`/v1/workflows/${id}`)).status).toBe(204);
    expect((await api.get(`/v1/workflows/${id}`)).status).toBe(404);
    expect((await api.del(`/v1/workflows/${id}`)).status).toBe(404);
    expect((await api.post(`/v1/workflows/${id}/executions`, {})).status).toBe(404);
    expect((await waitFor(api, ex.body.id)).status).toBe("succeeded");
  });

  it("answers invalid definitions with problem+json naming every path", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post("/v1/workflows", {
      name: "bad",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "1" } },
        { id: "b", kind: "transform", needs: ["a", "ghost"], config: { expression: "1" } },
        { id: "c", kind: "http", config: { url: "http://x", method: "BREW" } },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.body).toMatchObject({ status: 400, code: "invalid_definition", title: "Bad Request" });
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { path: "nodes[1].needs[1]", message: 'unknown node "ghost"' },
        expect.objectContaining({ path: "nodes[2].config.method" }),
      ]),
    );
    const cyclic = await api.post("/v1/workflows", {
      name: "c",
      nodes: [
        { id: "a", kind: "transform", needs: ["b"], config: { expression: "1" } },
        { id: "b", kind: "transform", needs: ["a"], config: { expression: "1" } },
      ],
    });
    expect(cyclic.body.errors[0].message).toMatch(/^cycle in needs: (a -> b -> a|b -> a -> b)$/);
  });

  it("refuses oversized, non-JSON and malformed bodies with their own status codes", async () => {
    const api = client((await createTenant()).token);
    const huge = {
      name: "big",
      description: "x".repeat(1000),
      nodes: Array.from({ length: 300 }, (_, i) => ({
        id: `n${i}`,
        kind: "transform",
        config: { expression: `'${"y".repeat(900)}'` },
      })),
    };
    const big = await api.post("/v1/workflows", huge);
    expect(big.status).toBe(413);
    expect(big.body.code).toBe("definition_too_large");
    const text = await api.raw("POST", "/v1/workflows", "name=x", { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    expect(text.body.code).toBe("unsupported_media_type");
    const broken = await api.raw("POST", "/v1/workflows", "{not json", { "content-type": "application/json" });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe("invalid_json");
    expect(JSON.stringify(broken.body)).not.toMatch(/at .*\.ts:\d+/);
  });

  it("lists workflows with execution counts and the last execution in one query, paginated", async () => {
    const api = client((await createTenant()).token);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api.post("/v1/workflows", def(`w${i}`))).body.id);
    const runs = [
      await api.post(`/v1/workflows/${ids[0]}/executions`, {}),
      await api.post(`/v1/workflows/${ids[0]}/executions`, {}),
    ];
    for (const r of runs) await waitFor(api, r.body.id);

    const small = await api.get("/v1/workflows?limit=100");
    expect(small.body.data.map((w: any) => w.id)).toEqual([...ids].reverse());
    const first = small.body.data.find((w: any) => w.id === ids[0]);
    expect(first.execution_count).toBe(2);
    expect(first.last_execution).toMatchObject({ id: runs[1]!.body.id, status: "succeeded" });
    expect(small.body.data.find((w: any) => w.id === ids[1]).last_execution).toBeNull();

    for (let i = 3; i < 15; i++) {
      const id = (await api.post("/v1/workflows", def(`w${i}`))).body.id;
      await waitFor(api, (await api.post(`/v1/workflows/${id}/executions`, {})).body.id);
    }
    const large = await api.get("/v1/workflows?limit=100");
    expect(large.body.data).toHaveLength(15);
    // One statement for the key lookup, one for the page, whatever the number of rows.
    expect(small.headers.get("x-d1-queries")).toBe("2");
    expect(large.headers.get("x-d1-queries")).toBe("2");

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api.get(`/v1/workflows?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.body.data.map((w: any) => w.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(large.body.data.map((w: any) => w.id));
    expect((await api.get("/v1/workflows?cursor=%%%")).body.code).toBe("validation_failed");
  });

  it("hides one tenant's workflows from another", async () => {
    const a = client((await createTenant()).token);
    const b = client((await createTenant()).token);
    const id = (await a.post("/v1/workflows", def("private"))).body.id;
    expect((await b.get(`/v1/workflows/${id}`)).status).toBe(404);
    expect((await b.put(`/v1/workflows/${id}`, def("stolen"))).status).toBe(404);
    expect((await b.del(`/v1/workflows/${id}`)).status).toBe(404);
    expect((await b.post(`/v1/workflows/${id}/executions`, {})).status).toBe(404);
    expect((await b.get("/v1/workflows")).body.data).toEqual([]);
    expect((await a.get(`/v1/workflows/${id}`)).status).toBe(200);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, projection, target, targetCalls, waitFor, waitForNode } from "../support/api";

const key = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;

/** v1: an order placed (a side effect), a wait for approval, then a summary that reads the order; `tag` aside. */
const v1 = (sink: string) => ({
  name: "parked",
  nodes: [
    { id: "order", kind: "http", config: { url: target(`/side-effect/${sink}`), method: "POST", body: { n: 1 } } },
    { id: "tag", kind: "transform", config: { expression: "'t'" } },
    { id: "w", kind: "wait_for_event", needs: ["order"], config: { event: "go" } },
    {
      id: "sum",
      kind: "transform",
      needs: ["w", "tag"],
      config: { expression: "{'effect': nodes.order.output.body.effect}" },
    },
  ],
});

describe("migrations (POST /v1/workflows/:id/migrations)", () => {
  it("moves 15 parked executions to a version that inserts a node after the wait and renames another, re-running nothing; refuses a version that drops a completed node read downstream", async () => {
    const api = client((await createTenant()).token);
    const sink = key("migrate");
    const wf = (await api.post("/v1/workflows", v1(sink))).body.id;
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push((await api.post(`/v1/workflows/${wf}/executions`, { input: {} })).body.id);
    for (const id of ids) await waitForNode(api, id, "w", "waiting");
    // D1 lists them (the migration's candidates come from there).
    for (const id of ids) await waitFor(api, id, ["running"]);

    const base = v1(sink).nodes;
    const v2 = {
      name: "parked",
      nodes: [
        base[0],
        { id: "label", kind: "transform", config: { expression: "'t'" } },
        base[2],
        { id: "check", kind: "transform", needs: ["w"], config: { expression: "'checked'" } },
        { ...base[3], needs: ["check", "label"] },
      ],
    };
    expect((await api.put(`/v1/workflows/${wf}`, v2)).body.version).toBe(2);
    const dry = await api.post(`/v1/workflows/${wf}/migrations`, { from: 1, to: 2, node_map: { tag: "label" } });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body).toMatchObject({ dry_run: true, total: 15, movable: 15, blocked: 0, moved: 0 });
    expect(dry.body.executions[0]).toMatchObject({ movable: true, renamed: { tag: "label" }, added: ["check"] });
    expect((await api.get(`/v1/executions/${ids[0]}`)).body.version).toBe(1);

    const applied = await api.post(`/v1/workflows/${wf}/migrations`, {
      from: 1,
      to: 2,
      node_map: { tag: "label" },
      dry_run: false,
    });
    expect(applied.body).toMatchObject({ dry_run: false, total: 15, movable: 15, moved: 15 });
    // Asked again: none moves twice (D1 may still list them under version 1 for a moment; each object knows).
    const again = (await api.post(`/v1/workflows/${wf}/migrations`, { from: 1, to: 2, node_map: { tag: "label" } }))
      .body;
    expect(again.movable).toBe(0);
    for (const e of again.executions) expect(e.reason).toBe("already on version 2");

    for (const id of ids) await api.post(`/v1/executions/${id}/events`, { name: "go" });
    for (const id of ids) {
      const done = await waitFor(api, id);
      expect(done).toMatchObject({ status: "succeeded", version: 2 });
      // sum (run on version 2) reads the order placed on version 1: the sink's answer to this run's one request.
      const order = done.nodes.find((n: { node_id: string }) => n.node_id === "order");
      expect(done.output.sum.effect).toBe(order.output.body.effect);
      expect(done.nodes.map((n: { node_id: string }) => n.node_id)).toEqual(["order", "label", "w", "check", "sum"]);
      expect(order.attempts).toBe(1);
      // D1 holds the new names only.
      expect((await projection(id))?.nodes.map((n) => n.node_id).sort()).toEqual(
        ["check", "label", "order", "sum", "w"].sort(),
      );
    }
    // The side-effect server saw one request per execution's key: no completed node ran again.
    const seen = await targetCalls(sink);
    expect(seen.calls).toHaveLength(15);
    expect(new Set(seen.calls.map((c) => c.idempotency_key)).size).toBe(15);
    const log = (await api.get(`/v1/executions/${ids[0]}/events?limit=100`)).body.data as any[];
    expect(log.find((e) => e.type === "execution.migrated").data).toEqual({
      from_version: 1,
      to_version: 2,
      renamed: { tag: "label" },
      added: ["check"],
      removed: [],
    });

    // A v3 that deletes the completed order node, which sum reads: every parked run of v2 is refused, with why.
    const parked: string[] = [];
    for (let i = 0; i < 5; i++) parked.push((await api.post(`/v1/workflows/${wf}/executions`, { input: {} })).body.id);
    for (const id of parked) await waitForNode(api, id, "w", "waiting");
    for (const id of parked) await waitFor(api, id, ["running"]);
    const v3 = {
      name: "parked",
      nodes: [
        { ...v2.nodes[2], needs: [] },
        v2.nodes[3],
        { id: "sum", kind: "transform", needs: ["check"], config: { expression: "{'effect': 0}" } },
      ],
    };
    const published = await api.put(`/v1/workflows/${wf}`, v3);
    expect(published.body.version, JSON.stringify(published.body)).toBe(3);
    const refused = await api.post(`/v1/workflows/${wf}/migrations`, { from: 2, to: 3, dry_run: false });
    expect(refused.body).toMatchObject({ total: 5, movable: 0, blocked: 5, moved: 0 });
    for (const e of refused.body.executions)
      expect(e.reason).toBe(
        'completed node "order" is not in version 3 and "w" reads its output; map it with node_map or keep it',
      );
  });

  it("refuses a waiting node that changed, unknown versions, a node mapped to another kind, and a second migration while one applies", async () => {
    const api = client((await createTenant()).token);
    const sink = key("migrate-bad");
    const wf = (await api.post("/v1/workflows", v1(sink))).body.id;
    const id = (await api.post(`/v1/workflows/${wf}/executions`, { input: {} })).body.id;
    await waitForNode(api, id, "w", "waiting");
    await waitFor(api, id, ["running"]);
    const nodes = v1(sink).nodes;
    const changed = {
      name: "parked",
      nodes: [nodes[0], nodes[1], { ...nodes[2], config: { event: "ready" } }, nodes[3]],
    };
    expect((await api.put(`/v1/workflows/${wf}`, changed)).body.version).toBe(2);
    const report = (await api.post(`/v1/workflows/${wf}/migrations`, { from: 1, to: 2 })).body;
    expect(report.executions).toEqual([
      { execution_id: id, movable: false, moved: false, reason: 'node "w" is waiting and changed in version 2' },
    ]);

    const bad = async (body: unknown) => (await api.post(`/v1/workflows/${wf}/migrations`, body)).body;
    expect(await bad({ from: 1, to: 9 })).toMatchObject({
      status: 422,
      code: "version_not_found",
      errors: [{ path: "to" }],
    });
    expect(await bad({ from: 1, to: 2, node_map: { tag: "w" } })).toMatchObject({
      status: 422,
      code: "invalid_node_map",
      errors: [{ path: "node_map.tag", message: '"tag" is a transform node and "w" a wait_for_event node' }],
    });
    expect(await bad({ from: 1, to: 2, node_map: { nope: "sum" } })).toMatchObject({
      code: "invalid_node_map",
      errors: [{ path: "node_map.nope" }],
    });
    expect(await bad({ from: 1 })).toMatchObject({ status: 400 });
    expect((await api.post(`/v1/workflows/wf_00000000000000000000000000/migrations`, { from: 1, to: 2 })).status).toBe(
      404,
    );

    // While a migration of this workflow applies (its lease held), another is 409; a dry run still answers.
    const tenantId = (await api.get(`/v1/executions/${id}`)).body.tenant_id;
    const tenant = env.TENANT.get(env.TENANT.idFromName(tenantId));
    expect((await tenant.acquire(`migration:${wf}`, `migration:${wf}:held`, 1, 60_000)).ok).toBe(true);
    expect(await bad({ from: 1, to: 2, dry_run: false })).toMatchObject({ status: 409, code: "migration_in_progress" });
    expect((await api.post(`/v1/workflows/${wf}/migrations`, { from: 1, to: 2 })).status).toBe(200);
    await tenant.release([`migration:${wf}:held`]);
    expect((await api.post(`/v1/workflows/${wf}/migrations`, { from: 1, to: 2, dry_run: false })).body.moved).toBe(0);
  });
});

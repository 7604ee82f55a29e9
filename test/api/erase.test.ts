import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, projection, run, waitFor, waitForNode } from "../support/api";
import { MINUTE, tick } from "../support/cron";
import { openSse } from "../support/streams";

const DAY = 24 * 60 * MINUTE;
const waitNode = (id = "w") => ({ id, kind: "wait_for_event", config: { event: "go" } });

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !(await check());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Rows D1 still holds for an execution, over every table that stores one. */
async function d1Rows(id: string): Promise<number> {
  const tables = [
    "executions where id",
    "node_runs where execution_id",
    "execution_tags where execution_id",
    "execution_metadata where execution_id",
    "results where execution_id",
    "idempotency_keys where execution_id",
  ];
  let n = 0;
  for (const t of tables)
    n += (await env.DB.prepare(`select count(*) as n from ${t} = ?`).bind(id).first<{ n: number }>())?.n ?? 0;
  return n;
}

/** Rows in the object's tables (the empty schema's own version row aside), plus one for an armed alarm. */
async function storageKeys(id: string): Promise<number> {
  return runInDurableObject(executionStub(env, id), async (_o, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>(
        "select name from sqlite_master where type = 'table' and name not like '\\_%' escape '\\' and name not like 'sqlite%' and name != 'schema_version'",
      )
      .toArray();
    const rows: Record<string, number> = {};
    for (const { name } of tables)
      rows[name] = state.storage.sql.exec<{ n: number }>(`select count(*) as n from "${name}"`).one().n;
    return Object.values(rows).reduce((a, b) => a + b, 0) + ((await state.storage.getAlarm()) === null ? 0 : 1);
  });
}

describe("DELETE /v1/executions/:id", () => {
  it("cancels a running execution, closes its streams, and erases it and its child everywhere", async () => {
    const owner = await createTenant();
    const api = client(owner.token);
    const child = (await api.post("/v1/workflows", { name: "child", nodes: [waitNode()] })).body.id;
    const def = { name: "parent", nodes: [{ id: "sub", kind: "workflow", config: { workflow_id: child } }] };
    const wf = (await api.post("/v1/workflows", def)).body.id;
    const started = await api.post(
      `/v1/workflows/${wf}/executions`,
      { input: { email: "ada@example.com" }, tags: ["gdpr"], metadata: { customer: "c-1" } },
      { "idempotency-key": "erase-1" },
    );
    const ex = started.body.id as string;
    const sub = await waitForNode(api, ex, "sub", "waiting");
    await until(async () => (await projection(ex))?.nodes.length === 1, "projection of the parent");
    const childId = (
      await env.DB.prepare("select id from executions where parent_execution_id = ?").bind(ex).first<{ id: string }>()
    )?.id as string;
    expect(childId).toMatch(/^ex_/);
    expect(sub.status).toBe("waiting");
    // Another tenant cannot erase it (and learns nothing: 404).
    expect((await client((await createTenant()).token).del(`/v1/executions/${ex}`)).status).toBe(404);
    expect((await api.get(`/v1/executions/${ex}`)).body.status).toBe("running");

    const live = await openSse(ex, { token: owner.token, query: { after: 0 } });
    expect(live.response.status).toBe(200);
    await live.until(3);
    const res = await api.del(`/v1/executions/${ex}`);
    expect(res.status).toBe(204);
    // The open stream saw the cancel and was closed, not left hanging.
    await live.ended;
    expect(live.events.at(-1)?.data.type).toBe("execution.cancelled");

    for (const id of [ex, childId]) {
      expect((await api.get(`/v1/executions/${id}`)).status).toBe(404);
      expect((await api.get(`/v1/executions/${id}/events`)).status).toBe(404);
      expect({ id, d1: await d1Rows(id), storage: await storageKeys(id) }).toEqual({ id, d1: 0, storage: 0 });
    }
    expect((await api.get(`/v1/executions?tag=gdpr`)).body.data).toEqual([]);
    expect((await api.del(`/v1/executions/${ex}`)).status).toBe(404);
    // The idempotency key went with it: the same request now starts a new execution instead of replaying an erased one.
    const again = await api.post(
      `/v1/workflows/${wf}/executions`,
      { input: { email: "ada@example.com" }, tags: ["gdpr"], metadata: { customer: "c-1" } },
      { "idempotency-key": "erase-1" },
    );
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(ex);
  });

  it("erases a finished execution and frees its tenant's running slot and concurrency key", async () => {
    const api = client((await createTenant()).token);
    const def = { name: "keyed", concurrency_key: "k", nodes: [waitNode()] };
    const { workflowId, executionId: first } = await run(api, def);
    await waitForNode(api, first, "w", "waiting");
    const second = (await api.post(`/v1/workflows/${workflowId}/executions`, {})).body.id;
    expect((await api.get(`/v1/executions/${second}`)).body.status).toBe("queued");
    expect((await api.del(`/v1/executions/${first}`)).status).toBe(204);
    // The key the erased run held passes to the next in line.
    await waitForNode(api, second, "w", "waiting");
    await api.post(`/v1/executions/${second}/events`, { name: "go" });
    expect((await waitFor(api, second)).status).toBe("succeeded");
    expect((await api.del(`/v1/executions/${second}`)).status).toBe(204);
    expect(await d1Rows(second)).toBe(0);
  });

  it("finishes an erase whose first try was cut short after the object's storage went", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "once",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    });
    await waitFor(api, executionId);
    // The first try got as far as the object, then D1 failed: simulate by purging the object only.
    await executionStub(env, executionId).purge();
    expect(await d1Rows(executionId)).toBeGreaterThan(0);
    expect((await api.del(`/v1/executions/${executionId}`)).status).toBe(204);
    expect(await d1Rows(executionId)).toBe(0);
  });

  it("bulk-deletes the executions matching a filter and leaves the rest", async () => {
    const api = client((await createTenant()).token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "bulk",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const ids: string[] = [];
    for (const tag of ["drop", "drop", "keep"])
      ids.push((await api.post(`/v1/workflows/${wf}/executions`, { tags: [tag] })).body.id);
    for (const id of ids) await waitFor(api, id);
    const res = await api.post("/v1/executions/bulk/delete", { filter: { tag: "drop" }, limit: 10 });
    expect(res.status).toBe(200);
    expect(res.body.matched).toBe(2);
    expect([...res.body.changed].sort()).toEqual([ids[0], ids[1]].sort());
    expect(res.body.failed).toEqual([]);
    expect((await api.get(`/v1/executions/${ids[0]}`)).status).toBe(404);
    expect((await api.get(`/v1/executions/${ids[2]}`)).body.status).toBe("succeeded");
  });
});

describe("retention_days per workflow", () => {
  it("overrides RETENTION_DAYS both ways: shorter runs go early, longer ones outlive the default", async () => {
    const api = client((await createTenant()).token);
    const node = { id: "a", kind: "transform", config: { expression: "1" } };
    const short = (await run(api, { name: "short", retention_days: 2, nodes: [node] })).executionId;
    const long = (await run(api, { name: "long", retention_days: 90, nodes: [node] })).executionId;
    const plain = (await run(api, { name: "plain", nodes: [node] })).executionId;
    for (const id of [short, long, plain]) await waitFor(api, id);
    await until(
      async () => typeof (await projection(short))?.execution.retain_until === "number",
      "retain_until projected",
    );

    await tick(Date.now() + 3 * DAY);
    expect(await projection(short)).toBeNull();
    expect((await api.get(`/v1/executions/${short}`)).status).toBe(404);
    expect((await projection(plain))?.execution.status).toBe("succeeded");

    await tick(Date.now() + 31 * DAY);
    expect(await projection(plain)).toBeNull();
    expect((await api.get(`/v1/executions/${long}`)).body.status).toBe("succeeded");

    await tick(Date.now() + 91 * DAY);
    expect(await projection(long)).toBeNull();
  });

  it("is validated when the workflow is saved", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post("/v1/workflows", {
      name: "bad",
      retention_days: 0,
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe("retention_days");
  });
});

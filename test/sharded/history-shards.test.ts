// History past one D1: this pool binds DB_HISTORY_0 and DB_HISTORY_1. Tenants are spread over them when created and
// never move; every history query goes to the tenant's own database, and the cron sweeps all of them.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runRetention, runWatchdog } from "../../src/cron/maintenance";
import { openDb } from "../../src/db/client";
import { historyShardCount, shardForNewTenant } from "../../src/db/shards";
import { client, createKey, waitFor } from "../support/api";

const shards = () => env as unknown as Record<"DB_HISTORY_0" | "DB_HISTORY_1", D1Database>;

/** A tenant whose id hashes to `shard`, created the way every tenant is. */
async function tenantOn(shard: number) {
  for (let i = 0; ; i++) {
    const tenantId = `ten_shard${shard}_${i}_${crypto.randomUUID().slice(0, 8)}`;
    if (shardForNewTenant(tenantId, historyShardCount(env)) !== shard) continue;
    const { token } = await createKey(tenantId);
    return { tenantId, api: client(token) };
  }
}

const rowsIn = async (d1: D1Database, tenantId: string) =>
  (await d1.prepare("select count(*) as n from executions where tenant_id = ?").bind(tenantId).first<{ n: number }>())
    ?.n;

const pipeline = {
  name: "sharded",
  nodes: [
    { id: "a", kind: "transform", config: { expression: "1" } },
    {
      id: "ask",
      kind: "llm",
      needs: ["a"],
      config: { tier: "mid", messages: [{ role: "user", content: "hello" }] },
    },
  ],
};

describe("history shards", () => {
  it("keeps each tenant's history in its own database and answers every history query from there", async () => {
    expect(historyShardCount(env)).toBe(2);
    const a = await tenantOn(0);
    const b = await tenantOn(1);
    const ids: Record<string, string[]> = { a: [], b: [] };
    for (const [name, t] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const wf = (await t.api.post("/v1/workflows", pipeline)).body.id;
      for (let i = 0; i < 3; i++) {
        const started = await t.api.post(`/v1/workflows/${wf}/executions`, { input: { i } });
        expect(started.status).toBe(201);
        ids[name]!.push(started.body.id);
      }
      for (const id of ids[name]!) expect((await waitFor(t.api, id)).status).toBe("succeeded");
    }
    // Where the rows are: each tenant's in its shard, none in the main database or the other shard.
    expect([await rowsIn(shards().DB_HISTORY_0, a.tenantId), await rowsIn(shards().DB_HISTORY_1, a.tenantId)]).toEqual([
      3, 0,
    ]);
    expect([await rowsIn(shards().DB_HISTORY_0, b.tenantId), await rowsIn(shards().DB_HISTORY_1, b.tenantId)]).toEqual([
      0, 3,
    ]);
    expect([await rowsIn(env.DB, a.tenantId), await rowsIn(env.DB, b.tenantId)]).toEqual([0, 0]);

    for (const [name, t] of [
      ["a", a],
      ["b", b],
    ] as const) {
      // Search: only its own, in one statement on its shard (plus the key lookup on the main database).
      const listed = await t.api.get("/v1/executions?limit=10");
      expect(listed.body.data.map((e: { id: string }) => e.id).sort()).toEqual([...ids[name]!].sort());
      expect(listed.headers.get("x-d1-queries")).toBe("2");
      const counts = await t.api.get("/v1/executions/counts");
      expect(counts.body.counts.succeeded).toBe(3);
      // Usage and spend: the LLM calls of its own runs, one statement on its shard.
      const usage = await t.api.get("/v1/usage");
      expect(usage.body.data.reduce((n: number, r: { calls: number }) => n + r.calls, 0)).toBe(3);
      expect(usage.headers.get("x-d1-queries")).toBe("2");
      // The workflow list joins definitions (main) with their runs (the shard).
      const wfs = await t.api.get("/v1/workflows");
      expect(wfs.body.data[0]).toMatchObject({ execution_count: 3 });
      expect(ids[name]).toContain(wfs.body.data[0].last_execution.id);
    }
    // Another tenant's execution is not found, whichever shard asks.
    expect((await a.api.get(`/v1/executions/${ids.b![0]}`)).status).toBe(404);

    // Erasure deletes from the tenant's shard.
    expect((await a.api.del(`/v1/executions/${ids.a![0]}`)).status).toBe(204);
    expect(await rowsIn(shards().DB_HISTORY_0, a.tenantId)).toBe(2);

    // The watchdog and retention sweep every shard.
    const db = openDb(env.DB).db;
    expect((await runWatchdog(env, db, Date.now(), 300, 60)).failed).toEqual([]);
    const swept = await runRetention(env, db, Date.now() + 86_400_000, 0);
    expect(swept.executions).toBeGreaterThanOrEqual(5);
    expect([await rowsIn(shards().DB_HISTORY_0, a.tenantId), await rowsIn(shards().DB_HISTORY_1, b.tenantId)]).toEqual([
      0, 0,
    ]);
  });

  it("keeps a tenant from before sharding on the main database", async () => {
    const tenantId = `ten_legacy_${crypto.randomUUID().slice(0, 8)}`;
    const { token } = await createKey(tenantId);
    await env.DB.prepare("update tenants set history_shard = -1 where id = ?").bind(tenantId).run();
    const api = client(token);
    const wf = (await api.post("/v1/workflows", { name: "legacy", nodes: pipeline.nodes.slice(0, 1) })).body.id;
    const id = (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id;
    expect((await waitFor(api, id)).status).toBe("succeeded");
    expect(await rowsIn(env.DB, tenantId)).toBe(1);
    expect((await api.get("/v1/executions")).body.data.map((e: { id: string }) => e.id)).toEqual([id]);
  });

  it("reports health and metrics over every database", async () => {
    const { api } = await tenantOn(1);
    const wf = (await api.post("/v1/workflows", { name: "m", nodes: pipeline.nodes.slice(0, 1) })).body.id;
    const id = (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id;
    await waitFor(api, id);
    const health = await client(null).get("/health");
    expect(health.body.checks.d1.ok).toBe(true);
    expect(health.body.checks.migrations.ok).toBe(true);
    const metrics = await exports.default.fetch("http://edgeflow.test/metrics", {
      headers: { authorization: "Bearer metrics-test-token" },
    });
    const succeeded = /edgeflow_executions\{status="succeeded"\} (\d+)/.exec(await metrics.text())?.[1];
    const total = await Promise.all(
      [env.DB, shards().DB_HISTORY_0, shards().DB_HISTORY_1].map(
        async (d1) =>
          (await d1.prepare("select count(*) as n from executions where status = 'succeeded'").first<{ n: number }>())
            ?.n ?? 0,
      ),
    );
    expect(Number(succeeded)).toBe(total.reduce((x, y) => x + y, 0));
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BUNDLED_MIGRATIONS } from "../../src/routes/health";
import { client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

const setClock = (installedAt: number, lastTickAt: number | null) =>
  env.DB.prepare("update cron_state set installed_at = ?, last_tick_at = ?, last_tick_failures = 0 where id = 'tick'")
    .bind(installedAt, lastTickAt)
    .run();

describe("GET /health", () => {
  it("is green when D1, the schema and Durable Objects all work", async () => {
    const res = await client(null).get("/health");
    expect(res.status).toBe(200);
    // Just migrated and no tick yet: inside the grace period, so green, and it says no tick has landed.
    expect(res.body).toEqual({
      status: "ok",
      checks: {
        d1: { ok: true },
        migrations: { ok: true, applied: BUNDLED_MIGRATIONS.length },
        durable_object: { ok: true },
        cron: { ok: true, last_tick_at: null, age_s: null, last_tick_failures: 0 },
        // The configured tiers, not checked yet (the cron checks them; /health never calls a model).
        models: {
          ok: true,
          tiers: [
            ["strong", "anthropic", "claude-sonnet-4-5"],
            ["mid", "openai", "gpt-5-mini"],
            ["weak", "openrouter", "openai/gpt-4o-mini"],
          ].map(([tier, provider, model]) => ({
            tier,
            provider,
            model,
            checked: false,
            ok: null,
            error: null,
            checked_at: null,
            age_s: null,
          })),
        },
        // No OAuth2 connection exists yet; a failing one is counted, never turns /health red.
        connections: { ok: true, total: 0, failing: 0 },
      },
    });
    expect(BUNDLED_MIGRATIONS).toEqual([
      "0000_init.sql",
      "0001_cron.sql",
      "0002_llm.sql",
      "0003_secrets.sql",
      "0004_rate_limits.sql",
      "0005_cors.sql",
      "0006_search.sql",
      "0007_labels.sql",
      "0008_parents.sql",
      "0009_api_key_scopes.sql",
      "0010_idempotency_in_flight.sql",
      "0011_watchdog_wake.sql",
      "0012_cron_health_retention.sql",
      "0013_create_keys_schedule_reasons.sql",
      "0014_monitor_expiry_and_duplicates.sql",
      "0015_tenant_history_shard.sql",
      "0016_model_checks.sql",
      "0017_results.sql",
      "0018_conversations.sql",
      "0019_conversation_retention.sql",
      "0020_monitor_unreachable.sql",
      "0021_alert_channels.sql",
      "0022_connections.sql",
      "0023_approvals.sql",
      "0024_monitor_acknowledgement.sql",
      "0025_tenant_weight.sql",
    ]);
  });

  it("goes red naming a migration D1 has not applied", async () => {
    await env.DB.prepare("delete from d1_migrations where name = '0000_init.sql'").run();
    try {
      const res = await client(null).get("/health");
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(res.body.code).toBe("unhealthy");
      expect(res.body.detail).toContain("missing migrations: 0000_init.sql");
      expect(res.body.checks.migrations.ok).toBe(false);
    } finally {
      await env.DB.prepare("insert into d1_migrations (name) values ('0000_init.sql')").run();
    }
  });

  it("goes red when any table of the schema is gone, naming it", async () => {
    const { results: rows } = await env.DB.prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name != 'd1_migrations'",
    ).all<{ name: string }>();
    const tables = rows.map((r) => r.name);
    expect(tables).toContain("results");
    expect(tables.length).toBeGreaterThan(20);
    for (const table of tables) {
      await env.DB.prepare(`alter table ${table} rename to ${table}_gone`).run();
      try {
        const res = await client(null).get("/health");
        expect(res.status).toBe(503);
        expect(res.body.checks.d1.ok).toBe(false);
        expect(res.body.checks.d1.detail).toContain(table);
      } finally {
        await env.DB.prepare(`alter table ${table}_gone rename to ${table}`).run();
      }
    }
    expect((await client(null).get("/health")).status).toBe(200);
  });

  it("reports each cron tick's time and age, and never moves the clock back for a late tick", async () => {
    const now = Date.now();
    await tick(now - 30_000);
    let res = await client(null).get("/health");
    expect(res.status).toBe(200);
    expect(res.body.checks.cron).toEqual({
      ok: true,
      last_tick_at: new Date(now - 30_000).toISOString(),
      age_s: expect.any(Number),
      last_tick_failures: 0,
    });
    expect(res.body.checks.cron.age_s).toBeGreaterThanOrEqual(30);
    await tick(now - 5 * MINUTE); // a retried tick for an earlier minute
    res = await client(null).get("/health");
    expect(res.body.checks.cron.last_tick_at).toBe(new Date(now - 30_000).toISOString());
  });

  it("goes red with cron_stalled when no tick landed for three periods, and green again at the next tick", async () => {
    const now = Date.now();
    await setClock(now - 10 * MINUTE, now - 4 * MINUTE);
    let res = await client(null).get("/health");
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("cron_stalled");
    expect(res.body.checks.cron).toMatchObject({ ok: false, last_tick_at: new Date(now - 4 * MINUTE).toISOString() });
    expect(res.body.checks.cron.age_s).toBeGreaterThanOrEqual(240);
    expect(res.body.detail).toMatch(/last cron tick 24\d s ago \(limit 180 s\)/);
    await tick(now);
    res = await client(null).get("/health");
    expect(res.status).toBe(200);
    expect(res.body.checks.cron.ok).toBe(true);
  });

  it("goes red when a deployment never ticked once the grace period from its install has passed", async () => {
    await setClock(Date.now() - 4 * MINUTE, null);
    const res = await client(null).get("/health");
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("cron_stalled");
    expect(res.body.checks.cron).toMatchObject({ ok: false, last_tick_at: null, age_s: null });
    expect(res.body.detail).toContain("no cron tick since install");
    await setClock(Date.now(), null);
    expect((await client(null).get("/health")).status).toBe(200);
  });
});

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BUNDLED_MIGRATIONS } from "../../src/routes/health";
import { client } from "../support/api";

describe("GET /health", () => {
  it("is green when D1, the schema and Durable Objects all work", async () => {
    const res = await client(null).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", checks: { d1: { ok: true }, migrations: { ok: true, applied: BUNDLED_MIGRATIONS.length }, durable_object: { ok: true } } });
    expect(BUNDLED_MIGRATIONS).toEqual(["0000_init.sql", "0001_cron.sql", "0002_llm.sql", "0003_secrets.sql", "0004_rate_limits.sql", "0005_cors.sql", "0006_search.sql", "0007_labels.sql", "0008_parents.sql", "0009_api_key_scopes.sql", "0010_idempotency_in_flight.sql", "0011_watchdog_wake.sql"]);
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

  it("goes red when a table the API needs is gone", async () => {
    for (const table of ["node_runs", "schedules", "alerts"]) {
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
});

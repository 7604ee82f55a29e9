import { Hono } from "hono";
import { cronClock } from "../db/cron-repo";
import * as repo from "../db/repo";
import { config } from "../env";
import { executionStub } from "../durable/client";
import { openDb, type Db } from "../db/client";
import { historyDatabases, MAIN_SHARD } from "../db/shards";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { modelCheckRows } from "../db/model-checks-repo";
import { connectionHealth } from "../db/connections-repo";
import { TIERS } from "../nodes/llm/config";
import { resolveTarget } from "../nodes/llm/resolve";
import journal from "../../migrations/meta/_journal.json";

/** The migrations this build was made with; D1 must have applied exactly these. */
export const BUNDLED_MIGRATIONS: string[] = journal.entries.map((e) => `${e.tag}.sql`);

type Check = { ok: boolean; detail?: string; [k: string]: unknown };

/** Rethrow naming the database, so a red check says which one. */
const named =
  (name: string) =>
  (err: unknown): never => {
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  };

async function check(run: () => Promise<Omit<Check, "ok"> | void>): Promise<Check> {
  try {
    return { ok: true, ...(await run()) };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Green only when what it checks works: D1 answers with the bundled schema, a Durable Object round trip succeeds,
 * the cron clock is alive (schedules, monitors, alerts, the watchdog and retention all hang off it), and no
 * configured LLM tier failed its last model check (the cron's, every MODEL_CHECK_MINUTES; no model is called here).
 */
export const health = new Hono<AppEnv>().get("/", async (c) => {
  const db = c.get("db").db;
  const now = Date.now();
  // The main database and every history shard: each has the whole schema and every migration applied.
  const databases = historyDatabases(c.env).map((h) => ({
    name: h.shard === MAIN_SHARD ? "DB" : `DB_HISTORY_${h.shard}`,
    db: h.shard === MAIN_SHARD ? db : openDb(h.d1).db,
  }));
  const [d1, migrations, durable, cron, models] = await Promise.all([
    check(async () => {
      for (const d of databases) await repo.probeTables(d.db).catch(named(d.name));
    }),
    check(async () => {
      let applied = 0;
      for (const d of databases) {
        const done = await repo.appliedMigrations(d.db);
        const missing = BUNDLED_MIGRATIONS.filter((m) => !done.includes(m));
        if (missing.length) throw new Error(`${d.name}: missing migrations: ${missing.join(", ")}`);
        applied = done.length;
      }
      return { applied };
    }),
    check(async () => {
      const pong = await executionStub(c.env, "health-check").ping();
      if (pong !== "pong") throw new Error(`unexpected reply ${pong}`);
    }),
    cronCheck(db, now, config(c.env).CRON_STALL_SECONDS),
    modelsCheck(c.env, db, now),
  ]);
  // Informational: a tenant's identity provider failing is that tenant's node errors, not this deployment down.
  const connections = await check(async () => {
    const counts = await connectionHealth(db);
    return counts.failing
      ? { ...counts, detail: `${counts.failing} connection(s) failed their last token request` }
      : counts;
  });
  const checks = { d1, migrations, durable_object: durable, cron, models, connections };
  const failing = Object.entries(checks).filter(([, v]) => !v.ok);
  if (failing.length) {
    const only = failing.length === 1 ? failing[0]?.[0] : null;
    const code = only === "cron" ? "cron_stalled" : only === "models" ? "model_down" : "unhealthy";
    throw new AppError(503, code, failing.map(([k, v]) => `${k}: ${v.detail}`).join("; "), { checks });
  }
  return c.json({ status: "ok", checks });
});

/** The clock's age: since the last tick, or since the install when no tick has landed yet. */
async function cronCheck(db: Db, now: number, stallSeconds: number): Promise<Check> {
  return check(async () => {
    const clock = await cronClock(db, now);
    const age = clock.last_tick_at === null ? null : Math.max(0, Math.round((now - clock.last_tick_at) / 1000));
    const view = {
      last_tick_at: clock.last_tick_at === null ? null : new Date(clock.last_tick_at).toISOString(),
      age_s: age,
      last_tick_failures: clock.last_tick_failures,
    };
    const silentFor = (now - (clock.last_tick_at ?? clock.installed_at)) / 1000;
    if (silentFor <= stallSeconds) return view;
    const since =
      clock.last_tick_at === null
        ? `no cron tick since install ${Math.round(silentFor)} s ago`
        : `last cron tick ${age} s ago`;
    return {
      ...view,
      ok: false,
      detail: `${since} (limit ${stallSeconds} s): is the Cron Trigger deployed, or is \`npm start\` driving it?`,
    };
  });
}

/**
 * Each configured tier's last check. A check of another provider:model than the tier's setting now (it was changed
 * since) does not count: the tier shows as not checked yet until the next check.
 */
async function modelsCheck(env: Env, db: Db, now: number): Promise<Check> {
  return check(async () => {
    const rows = new Map((await modelCheckRows(db)).map((r) => [r.tier, r]));
    const tiers = TIERS.flatMap((tier) => {
      const r = resolveTarget(env as unknown as Record<string, unknown>, { tier });
      if (!r.ok) return [];
      const row = rows.get(tier);
      const current = row && row.provider === r.target.provider && row.model === r.target.model ? row : null;
      return [
        {
          tier,
          provider: r.target.provider,
          model: r.target.model,
          checked: current !== null,
          ok: current?.ok ?? null,
          error: current?.error ?? null,
          checked_at: current ? new Date(current.checked_at).toISOString() : null,
          age_s: current ? Math.max(0, Math.round((now - current.checked_at) / 1000)) : null,
        },
      ];
    });
    const down = tiers.filter((t) => t.ok === false);
    if (!down.length) return { tiers };
    return {
      tiers,
      ok: false,
      detail: down.map((t) => `${t.tier} (${t.provider}:${t.model}) failed its last check: ${t.error}`).join("; "),
    };
  });
}

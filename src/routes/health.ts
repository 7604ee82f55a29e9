import { Hono } from "hono";
import { cronClock } from "../db/cron-repo";
import * as repo from "../db/repo";
import { config } from "../env";
import { executionStub } from "../durable/client";
import { openDb, type Db } from "../db/client";
import { historyDatabases, MAIN_SHARD } from "../db/shards";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
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
 * Green only when the business path works: D1 answers with the bundled schema, a Durable Object round trip succeeds,
 * and the cron clock is alive (schedules, monitors, alerts, the watchdog and retention all hang off it).
 */
export const health = new Hono<AppEnv>().get("/", async (c) => {
  const db = c.get("db").db;
  const now = Date.now();
  // The main database and every history shard: each has the whole schema and every migration applied.
  const databases = historyDatabases(c.env).map((h) => ({
    name: h.shard === MAIN_SHARD ? "DB" : `DB_HISTORY_${h.shard}`,
    db: h.shard === MAIN_SHARD ? db : openDb(h.d1).db,
  }));
  const [d1, migrations, durable, cron] = await Promise.all([
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
  ]);
  const checks = { d1, migrations, durable_object: durable, cron };
  const failing = Object.entries(checks).filter(([, v]) => !v.ok);
  if (failing.length) {
    const code = failing.length === 1 && failing[0]?.[0] === "cron" ? "cron_stalled" : "unhealthy";
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

import { Hono } from "hono";
import * as repo from "../db/repo";
import { executionStub } from "../durable/client";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import journal from "../../migrations/meta/_journal.json";

/** The migrations this build was made with; D1 must have applied exactly these. */
export const BUNDLED_MIGRATIONS: string[] = journal.entries.map((e) => `${e.tag}.sql`);

type Check = { ok: boolean; detail?: string; [k: string]: unknown };

async function check(run: () => Promise<Omit<Check, "ok"> | void>): Promise<Check> {
  try {
    return { ok: true, ...(await run()) };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/** Green only when the business path works: D1 answers with the bundled schema and a Durable Object round trip succeeds. */
export const health = new Hono<AppEnv>().get("/", async (c) => {
  const db = c.get("db").db;
  const [d1, migrations, durable] = await Promise.all([
    check(() => repo.probeTables(db)),
    check(async () => {
      const applied = await repo.appliedMigrations(db);
      const missing = BUNDLED_MIGRATIONS.filter((m) => !applied.includes(m));
      if (missing.length) throw new Error(`missing migrations: ${missing.join(", ")}`);
      return { applied: applied.length };
    }),
    check(async () => {
      const pong = await executionStub(c.env, "health-check").ping();
      if (pong !== "pong") throw new Error(`unexpected reply ${pong}`);
    }),
  ]);
  const checks = { d1, migrations, durable_object: durable };
  if (!d1.ok || !migrations.ok || !durable.ok) {
    const failing = Object.entries(checks).filter(([, v]) => !v.ok).map(([k, v]) => `${k}: ${v.detail}`);
    throw new AppError(503, "unhealthy", failing.join("; "), { checks });
  }
  return c.json({ status: "ok", checks });
});

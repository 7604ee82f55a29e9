// A provider's admission windows in its BreakerObject's SQLite: the calls each provider:model was let through (and
// whose), kept for one window (and its slack), and the tenants refused lately, who are waiting for a share.
// src/engine/provider-limit.ts decides what fits.
import { windowSlackMs, type Contender, type WindowCall } from "../engine/provider-limit";

export class ProviderWindowStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS provider_calls (bucket TEXT NOT NULL, at INTEGER NOT NULL,
      tokens INTEGER NOT NULL); CREATE INDEX IF NOT EXISTS provider_calls_at ON provider_calls (bucket, at);
      CREATE TABLE IF NOT EXISTS provider_waiting (bucket TEXT NOT NULL, tenant TEXT NOT NULL, weight REAL NOT NULL,
        until INTEGER NOT NULL, PRIMARY KEY (bucket, tenant));`);
    // Calls recorded before tenants shared a window by weight belong to no tenant.
    const columns = sql.exec<{ name: string }>("PRAGMA table_info(provider_calls)").toArray();
    if (!columns.some((c) => c.name === "tenant"))
      sql.exec("ALTER TABLE provider_calls ADD COLUMN tenant TEXT NOT NULL DEFAULT ''");
  }

  /** `bucket`'s calls still in the window that ends at `now`, oldest first (older ones are dropped). */
  window(bucket: string, now: number, windowMs: number): WindowCall[] {
    this.sql.exec(
      "DELETE FROM provider_calls WHERE bucket = ? AND at <= ?",
      bucket,
      now - windowMs - windowSlackMs(windowMs),
    );
    return this.sql
      .exec<{ at: number; tokens: number; tenant: string }>(
        "SELECT at, tokens, tenant FROM provider_calls WHERE bucket = ? ORDER BY at",
        bucket,
      )
      .toArray();
  }

  record(bucket: string, at: number, tokens: number, tenant: string): void {
    this.sql.exec(
      "INSERT INTO provider_calls (bucket, at, tokens, tenant) VALUES (?, ?, ?, ?)",
      bucket,
      at,
      tokens,
      tenant,
    );
  }

  /** The tenants waiting for `bucket` at `now` (refused lately), with their weights. */
  waiting(bucket: string, now: number): Contender[] {
    this.sql.exec("DELETE FROM provider_waiting WHERE bucket = ? AND until <= ?", bucket, now);
    return this.sql
      .exec<{ tenant: string; weight: number }>("SELECT tenant, weight FROM provider_waiting WHERE bucket = ?", bucket)
      .toArray();
  }

  /** `who` was refused: it counts as waiting until `until` (or later, if it already did). */
  wait(bucket: string, who: Contender, until: number): void {
    this.sql.exec(
      `INSERT INTO provider_waiting (bucket, tenant, weight, until) VALUES (?, ?, ?, ?)
       ON CONFLICT (bucket, tenant) DO UPDATE SET weight = excluded.weight, until = MAX(until, excluded.until)`,
      bucket,
      who.tenant,
      who.weight,
      until,
    );
  }

  /** What each bucket took in the window that ends at `now`. */
  use(now: number, windowMs: number): { bucket: string; requests: number; tokens: number }[] {
    return this.sql
      .exec<{ bucket: string; requests: number; tokens: number }>(
        `SELECT bucket, COUNT(*) AS requests, SUM(tokens) AS tokens FROM provider_calls WHERE at > ?
         GROUP BY bucket ORDER BY bucket`,
        now - windowMs - windowSlackMs(windowMs),
      )
      .toArray();
  }
}

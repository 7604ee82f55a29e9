// A provider's admission windows in its BreakerObject's SQLite: the calls each provider:model was let through, kept
// for one window (and its slack). src/engine/provider-limit.ts decides what fits.
import { windowSlackMs, type WindowCall } from "../engine/provider-limit";

export class ProviderWindowStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS provider_calls (bucket TEXT NOT NULL, at INTEGER NOT NULL,
      tokens INTEGER NOT NULL); CREATE INDEX IF NOT EXISTS provider_calls_at ON provider_calls (bucket, at)`);
  }

  /** `bucket`'s calls still in the window that ends at `now`, oldest first (older ones are dropped). */
  window(bucket: string, now: number, windowMs: number): WindowCall[] {
    this.sql.exec(
      "DELETE FROM provider_calls WHERE bucket = ? AND at <= ?",
      bucket,
      now - windowMs - windowSlackMs(windowMs),
    );
    return this.sql
      .exec<{ at: number; tokens: number }>(
        "SELECT at, tokens FROM provider_calls WHERE bucket = ? ORDER BY at",
        bucket,
      )
      .toArray();
  }

  record(bucket: string, at: number, tokens: number): void {
    this.sql.exec("INSERT INTO provider_calls VALUES (?, ?, ?)", bucket, at, tokens);
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

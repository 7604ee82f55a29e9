// The TenantObject's SQLite storage: slot leases that expire unless renewed, and the FIFO queues of concurrency keys
// (running slots included) whose entries carry a lease that the TenantObject checks with the holder once it is stale.

export class LeaseStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, kind TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS leases_kind_expiry ON leases (kind, expires_at);
      CREATE TABLE IF NOT EXISTS key_queue (pos INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, execution_id TEXT NOT NULL,
        lease_until INTEGER NOT NULL DEFAULT 0, UNIQUE (key, execution_id));`);
    // Queues from before leases: their entries start stale (0), so the first waiter to ask checks each holder once.
    const columns = sql
      .exec<{ name: string }>("PRAGMA table_info(key_queue)")
      .toArray()
      .map((c) => c.name);
    if (!columns.includes("lease_until"))
      sql.exec("ALTER TABLE key_queue ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0");
  }

  /**
   * Join the FIFO queue of `key` (once; asking again renews the entry's lease); granted while `executionId` is among
   * the first `capacity` in it.
   */
  acquireKey(
    key: string,
    executionId: string,
    capacity: number,
    leaseUntil: number,
  ): { granted: boolean; position: number } {
    this.sql.exec(
      "INSERT INTO key_queue (key, execution_id, lease_until) VALUES (?, ?, ?) ON CONFLICT (key, execution_id) DO UPDATE SET lease_until = excluded.lease_until",
      key,
      executionId,
      leaseUntil,
    );
    const position = this.sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM key_queue WHERE key = ? AND pos < (SELECT pos FROM key_queue WHERE key = ? AND execution_id = ?)",
        key,
        key,
        executionId,
      )
      .one().n;
    return { granted: position < capacity, position };
  }

  /**
   * Leave the queue of `key` (holding it or not). Returns the execution that this departure let in — the one now
   * at the last place inside `capacity` — or nothing; never the ones that already held it.
   */
  releaseKey(key: string, executionId: string, capacity = 1): string[] {
    const ahead = this.sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM key_queue WHERE key = ? AND pos < (SELECT pos FROM key_queue WHERE key = ? AND execution_id = ?)",
        key,
        key,
        executionId,
      )
      .toArray()[0]?.n;
    const deleted =
      this.sql
        .exec("DELETE FROM key_queue WHERE key = ? AND execution_id = ? RETURNING pos", key, executionId)
        .toArray().length > 0;
    if (!deleted || ahead === undefined || ahead >= capacity) return [];
    const admitted = this.sql
      .exec<{ execution_id: string }>(
        "SELECT execution_id FROM key_queue WHERE key = ? ORDER BY pos LIMIT 1 OFFSET ?",
        key,
        capacity - 1,
      )
      .toArray()[0];
    return admitted ? [admitted.execution_id] : [];
  }

  /** Holders of `key` (the first `capacity` in its queue) whose lease ran out by `now`, at most `max`, oldest first. */
  staleHolders(key: string, capacity: number, now: number, max: number): string[] {
    return this.sql
      .exec<{ execution_id: string }>(
        "SELECT execution_id FROM (SELECT execution_id, lease_until, pos FROM key_queue WHERE key = ? ORDER BY pos LIMIT ?) WHERE lease_until <= ? ORDER BY pos LIMIT ?",
        key,
        capacity,
        now,
        max,
      )
      .toArray()
      .map((r) => r.execution_id);
  }

  /** Entries of any queue whose lease ran out by `now` (holders and waiters alike: waiters renew every poll). */
  staleEntries(now: number, max: number): { key: string; execution_id: string }[] {
    return this.sql
      .exec<{ key: string; execution_id: string }>(
        "SELECT key, execution_id FROM key_queue WHERE lease_until <= ? ORDER BY lease_until LIMIT ?",
        now,
        max,
      )
      .toArray();
  }

  renewKey(key: string, executionId: string, leaseUntil: number): void {
    this.sql.exec(
      "UPDATE key_queue SET lease_until = ? WHERE key = ? AND execution_id = ?",
      leaseUntil,
      key,
      executionId,
    );
  }

  /** Take every entry of `key`'s queue out, in queue order. */
  drain(key: string): { execution_id: string; lease_until: number }[] {
    return this.sql
      .exec<{ execution_id: string; lease_until: number; pos: number }>(
        "DELETE FROM key_queue WHERE key = ? RETURNING execution_id, lease_until, pos",
        key,
      )
      .toArray()
      .sort((a, b) => a.pos - b.pos);
  }

  /** Concurrency keys with anyone holding or waiting, the longest queue first, at most `max`. */
  keys(max: number): { key: string; entries: number }[] {
    return this.sql
      .exec<{ key: string; entries: number }>(
        "SELECT key, COUNT(*) AS entries FROM key_queue GROUP BY key ORDER BY entries DESC, key LIMIT ?",
        max,
      )
      .toArray();
  }

  /** Entries in `key`'s queue, holders and waiters. */
  queued(key: string): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM key_queue WHERE key = ?", key).one().n;
  }

  /** Take a slot if fewer than `limit` live leases of `kind` exist; expired leases are reclaimed first. */
  acquire(kind: string, id: string, limit: number, expiresAt: number, now: number): { ok: boolean; active: number } {
    this.sql.exec("DELETE FROM leases WHERE kind = ? AND expires_at <= ?", kind, now);
    const active = this.count(kind, now);
    const held = this.sql.exec("SELECT 1 FROM leases WHERE id = ?", id).toArray().length > 0;
    if (!held && active >= limit) return { ok: false, active };
    this.sql.exec(
      "INSERT INTO leases (id, kind, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
      id,
      kind,
      expiresAt,
    );
    return { ok: true, active: held ? active : active + 1 };
  }

  release(ids: string[]): void {
    for (const id of ids) this.sql.exec("DELETE FROM leases WHERE id = ?", id);
  }

  renew(ids: string[], expiresAt: number): void {
    for (const id of ids) this.sql.exec("UPDATE leases SET expires_at = ? WHERE id = ?", expiresAt, id);
  }

  count(kind: string, now: number): number {
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM leases WHERE kind = ? AND expires_at > ?", kind, now)
      .one().n;
  }
}

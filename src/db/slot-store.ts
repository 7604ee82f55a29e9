// The TenantObject's running slots: who holds one, who waits for one, and the fair order in which waiters get them
// (src/engine/fair-share.ts). A waiter is let in the moment a slot frees, by the release itself, so a newcomer can
// never take a freed slot ahead of the queue: while anyone waits, every slot is held. A running execution that only
// waits (an event, an approval, a child, a long sleep) gives its slot back and is kept as parked until it asks again.
import { batchLimit, LANE_WEIGHTS, LANES, pickStride, type Contender, type Lane } from "../engine/fair-share";

export interface SlotAsk {
  executionId: string;
  lane: Lane;
  /** The workflow: one share per workflow in its lane, however many keys its runs spread over. */
  group: string;
  /** The concurrency key ("" for none): keys take turns within their workflow. */
  key: string;
  capacity: number;
  leaseUntil: number;
}

const LANE_RANK = Object.fromEntries(LANES.map((l, i) => [l, i])) as Record<Lane, number>;

// Scopes of fair_queue: lanes, the workflows of one lane, the keys of one workflow in one lane.
const LANES_SCOPE = "";
const groupsScope = (lane: string) => lane;
const keysScope = (lane: string, group: string) => `${lane}\n${group}`;

export class SlotStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS slot_holders (execution_id TEXT PRIMARY KEY, lane TEXT NOT NULL,
        grp TEXT NOT NULL DEFAULT '', lease_until INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS slot_waiters (seq INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL UNIQUE,
        lane TEXT NOT NULL, grp TEXT NOT NULL, fkey TEXT NOT NULL, lease_until INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS slot_waiters_head ON slot_waiters (lane, grp, fkey, seq);
      CREATE TABLE IF NOT EXISTS fair_queue (scope TEXT NOT NULL, name TEXT NOT NULL, waiting INTEGER NOT NULL,
        pass REAL, PRIMARY KEY (scope, name));
      CREATE TABLE IF NOT EXISTS fair_clock (scope TEXT PRIMARY KEY, clock REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS slot_parked (execution_id TEXT PRIMARY KEY, lane TEXT NOT NULL, grp TEXT NOT NULL,
        lease_until INTEGER NOT NULL);`);
  }

  /**
   * Hold a slot, or wait for one (once; asking again renews the lease). Returns whether `executionId` holds a slot
   * now, and the waiters this ask let in besides it (slots that were free).
   */
  acquire(a: SlotAsk): { granted: boolean; admitted: string[] } {
    // A parked execution asking again is a newcomer: it takes a free slot, or waits its fair turn.
    this.sql.exec("DELETE FROM slot_parked WHERE execution_id = ?", a.executionId);
    const renewed = this.sql
      .exec("UPDATE slot_holders SET lease_until = ? WHERE execution_id = ? RETURNING 1", a.leaseUntil, a.executionId)
      .toArray().length;
    if (renewed) return { granted: true, admitted: [] };
    // Nobody waits and a slot this lane may take is free: nothing to be fair about (most starts come this way).
    if (this.nobodyWaits() && this.mayHold(a.lane, a.capacity)) {
      this.sql.exec(
        "INSERT INTO slot_holders (execution_id, lane, grp, lease_until) VALUES (?, ?, ?, ?)",
        a.executionId,
        a.lane,
        a.group,
        a.leaseUntil,
      );
      return { granted: true, admitted: [] };
    }
    const waiting = this.sql
      .exec("UPDATE slot_waiters SET lease_until = ? WHERE execution_id = ? RETURNING 1", a.leaseUntil, a.executionId)
      .toArray().length;
    if (!waiting) {
      this.sql.exec(
        "INSERT INTO slot_waiters (execution_id, lane, grp, fkey, lease_until) VALUES (?, ?, ?, ?, ?)",
        a.executionId,
        a.lane,
        a.group,
        a.key,
        a.leaseUntil,
      );
      this.count(a.lane, a.group, a.key, +1);
    }
    const admitted = this.fill(a.capacity, a.leaseUntil);
    return { granted: admitted.includes(a.executionId), admitted: admitted.filter((id) => id !== a.executionId) };
  }

  /** Entries from elsewhere (an older queue), as default-lane waiters in the order given; let in at the next ask. */
  adopt(entries: { execution_id: string; lease_until: number }[]): void {
    for (const e of entries) {
      const added = this.sql
        .exec(
          "INSERT INTO slot_waiters (execution_id, lane, grp, fkey, lease_until) VALUES (?, 'default', '', '', ?) ON CONFLICT (execution_id) DO NOTHING RETURNING 1",
          e.execution_id,
          e.lease_until,
        )
        .toArray().length;
      if (added) this.count("default", "", "", +1);
    }
  }

  /**
   * A running execution gives its slot back while it waits (a waiter's place, should it hold one, goes too); it is
   * kept as parked in its lane and workflow. Returns the waiters let in by the slot this freed.
   */
  park(a: Omit<SlotAsk, "key">): string[] {
    const admitted = this.release(a.executionId, a.capacity, a.leaseUntil);
    this.sql.exec(
      `INSERT INTO slot_parked (execution_id, lane, grp, lease_until) VALUES (?, ?, ?, ?)
       ON CONFLICT (execution_id) DO UPDATE SET lease_until = excluded.lease_until`,
      a.executionId,
      a.lane,
      a.group,
      a.leaseUntil,
    );
    return admitted;
  }

  /** Leave (holding a slot, waiting for one, or parked); returns the waiters let in by the slot this freed. */
  release(executionId: string, capacity: number, leaseUntil: number): string[] {
    this.sql.exec("DELETE FROM slot_parked WHERE execution_id = ?", executionId);
    this.sql.exec("DELETE FROM slot_holders WHERE execution_id = ?", executionId);
    const waiter = this.sql
      .exec<{ lane: string; grp: string; fkey: string }>(
        "DELETE FROM slot_waiters WHERE execution_id = ? RETURNING lane, grp, fkey",
        executionId,
      )
      .toArray()[0];
    if (waiter) this.count(waiter.lane, waiter.grp, waiter.fkey, -1);
    return this.nobodyWaits() ? [] : this.fill(capacity, leaseUntil);
  }

  private nobodyWaits(): boolean {
    return this.sql.exec("SELECT 1 FROM slot_waiters LIMIT 1").toArray().length === 0;
  }

  /** A slot is free, and one more of `lane` stays within what the lane may hold. */
  private mayHold(lane: Lane, capacity: number): boolean {
    const { total, batch } = this.sql
      .exec<{ total: number; batch: number }>(
        "SELECT COUNT(*) AS total, COALESCE(SUM(lane = 'batch'), 0) AS batch FROM slot_holders",
      )
      .one();
    return total < capacity && (lane !== "batch" || batch < batchLimit(capacity));
  }

  renew(executionId: string, leaseUntil: number): void {
    this.sql.exec("UPDATE slot_holders SET lease_until = ? WHERE execution_id = ?", leaseUntil, executionId);
    this.sql.exec("UPDATE slot_waiters SET lease_until = ? WHERE execution_id = ?", leaseUntil, executionId);
    this.sql.exec("UPDATE slot_parked SET lease_until = ? WHERE execution_id = ?", leaseUntil, executionId);
  }

  /** Holders whose lease ran out by `now`, at most `max`, the longest run out first. */
  staleHolders(now: number, max: number): string[] {
    return this.sql
      .exec<{ execution_id: string }>(
        "SELECT execution_id FROM slot_holders WHERE lease_until <= ? ORDER BY lease_until LIMIT ?",
        now,
        max,
      )
      .toArray()
      .map((r) => r.execution_id);
  }

  /** Holders, waiters and parked executions whose lease ran out by `now` (waiters renew at every poll). */
  staleEntries(now: number, max: number): string[] {
    return this.sql
      .exec<{ execution_id: string }>(
        `SELECT execution_id FROM (SELECT execution_id, lease_until FROM slot_holders WHERE lease_until <= ?1
           UNION ALL SELECT execution_id, lease_until FROM slot_waiters WHERE lease_until <= ?1
           UNION ALL SELECT execution_id, lease_until FROM slot_parked WHERE lease_until <= ?1)
         ORDER BY lease_until LIMIT ?2`,
        now,
        max,
      )
      .toArray()
      .map((r) => r.execution_id);
  }

  /** Executions holding or waiting for a slot, or parked. */
  size(): number {
    return this.sql
      .exec<{ n: number }>(
        "SELECT (SELECT COUNT(*) FROM slot_holders) + (SELECT COUNT(*) FROM slot_waiters) + (SELECT COUNT(*) FROM slot_parked) AS n",
      )
      .one().n;
  }

  /** Running, waiting and parked, per lane. */
  lanes(): { lane: Lane; running: number; queued: number; parked: number }[] {
    const count = (table: string) =>
      new Map(
        this.sql
          .exec<{ lane: string; n: number }>(`SELECT lane, COUNT(*) AS n FROM ${table} GROUP BY lane`)
          .toArray()
          .map((r) => [r.lane, r.n]),
      );
    const running = count("slot_holders");
    const queued = count("slot_waiters");
    const parked = count("slot_parked");
    return LANES.map((lane) => ({
      lane,
      running: running.get(lane) ?? 0,
      queued: queued.get(lane) ?? 0,
      parked: parked.get(lane) ?? 0,
    }));
  }

  /** Running, waiting and parked per workflow and lane, the most queued first, at most `max`. */
  groups(max: number): { workflow_id: string; lane: string; running: number; queued: number; parked: number }[] {
    return this.sql
      .exec<{ workflow_id: string; lane: string; running: number; queued: number; parked: number }>(
        `SELECT grp AS workflow_id, lane, SUM(running) AS running, SUM(queued) AS queued, SUM(parked) AS parked FROM (
           SELECT grp, lane, 1 AS running, 0 AS queued, 0 AS parked FROM slot_holders
           UNION ALL SELECT grp, lane, 0, 1, 0 FROM slot_waiters
           UNION ALL SELECT grp, lane, 0, 0, 1 FROM slot_parked)
         GROUP BY grp, lane ORDER BY queued DESC, running DESC, parked DESC, grp LIMIT ?`,
        max,
      )
      .toArray();
  }

  /** While a slot is free and anyone waits: let the next waiter in, in fair order. Returns those let in. */
  private fill(capacity: number, leaseUntil: number): string[] {
    const admitted: string[] = [];
    for (;;) {
      const held = this.sql
        .exec<{ lane: string; n: number }>("SELECT lane, COUNT(*) AS n FROM slot_holders GROUP BY lane")
        .toArray();
      const total = held.reduce((s, r) => s + r.n, 0);
      if (total >= capacity) break;
      const batch = held.find((r) => r.lane === "batch")?.n ?? 0;
      const next = this.next(batch < batchLimit(capacity));
      if (!next) break;
      this.sql.exec("DELETE FROM slot_waiters WHERE seq = ?", next.seq);
      this.count(next.lane, next.grp, next.fkey, -1);
      this.sql.exec(
        "INSERT INTO slot_holders (execution_id, lane, grp, lease_until) VALUES (?, ?, ?, ?)",
        next.execution_id,
        next.lane,
        next.grp,
        leaseUntil,
      );
      admitted.push(next.execution_id);
    }
    return admitted;
  }

  /** The waiter to let in next: a lane, a workflow in it, a key in that, each by stride; then the oldest there. */
  private next(
    batchMayRun: boolean,
  ): { seq: number; execution_id: string; lane: string; grp: string; fkey: string } | null {
    const lane = this.pick(LANES_SCOPE, (name) => ({
      weight: LANE_WEIGHTS[name as Lane] ?? 1,
      rank: LANE_RANK[name as Lane] ?? LANES.length,
      allowed: name !== "batch" || batchMayRun,
    }));
    if (lane === null) return null;
    const grp = this.pick(groupsScope(lane), () => ({ weight: 1, rank: 0, allowed: true }));
    if (grp === null) return null;
    const fkey = this.pick(keysScope(lane, grp), () => ({ weight: 1, rank: 0, allowed: true }));
    if (fkey === null) return null;
    return (
      this.sql
        .exec<{ seq: number; execution_id: string; lane: string; grp: string; fkey: string }>(
          "SELECT seq, execution_id, lane, grp, fkey FROM slot_waiters WHERE lane = ? AND grp = ? AND fkey = ? ORDER BY seq LIMIT 1",
          lane,
          grp,
          fkey,
        )
        .toArray()[0] ?? null
    );
  }

  /** The contender of `scope` that goes next, its pass and the scope's clock moved on; null when none may. */
  private pick(scope: string, of: (name: string) => { weight: number; rank: number; allowed: boolean }): string | null {
    const contenders: Contender[] = [];
    for (const r of this.sql
      .exec<{ name: string; pass: number | null }>(
        "SELECT name, pass FROM fair_queue WHERE scope = ? AND waiting > 0",
        scope,
      )
      .toArray()) {
      const o = of(r.name);
      if (o.allowed) contenders.push({ name: r.name, pass: r.pass, weight: o.weight, rank: o.rank });
    }
    const clock =
      this.sql.exec<{ clock: number }>("SELECT clock FROM fair_clock WHERE scope = ?", scope).toArray()[0]?.clock ?? 0;
    // Idle contenders whose pass the clock has caught up with have nothing left to remember.
    this.sql.exec(
      "DELETE FROM fair_queue WHERE scope = ? AND waiting <= 0 AND (pass IS NULL OR pass <= ?)",
      scope,
      clock,
    );
    const won = pickStride(contenders, clock);
    if (!won) return null;
    this.sql.exec("UPDATE fair_queue SET pass = ? WHERE scope = ? AND name = ?", won.pass, scope, won.name);
    this.sql.exec(
      "INSERT INTO fair_clock (scope, clock) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET clock = excluded.clock",
      scope,
      won.clock,
    );
    return won.name;
  }

  /**
   * One waiter more or fewer in its lane, workflow and key. A contender with none left keeps its pass until the clock
   * catches up with it (pick forgets it then): one that comes back at once, as a chat's next turn does, resumes where
   * it left off instead of at the clock, so going idle between runs wins nothing either.
   */
  private count(lane: string, grp: string, fkey: string, by: 1 | -1): void {
    for (const [scope, name] of [
      [LANES_SCOPE, lane],
      [groupsScope(lane), grp],
      [keysScope(lane, grp), fkey],
    ] as const) {
      this.sql.exec(
        "INSERT INTO fair_queue (scope, name, waiting, pass) VALUES (?, ?, ?, NULL) ON CONFLICT (scope, name) DO UPDATE SET waiting = waiting + excluded.waiting",
        scope,
        name,
        by,
      );
      if (by < 0)
        this.sql.exec(
          "DELETE FROM fair_queue WHERE scope = ? AND name = ? AND waiting <= 0 AND pass IS NULL",
          scope,
          name,
        );
    }
  }
}

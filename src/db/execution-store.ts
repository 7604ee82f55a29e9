// The ExecutionObject's SQLite storage: the source of truth for one execution. Every write is synchronous,
// so the writes between two awaits commit together (the DO's implicit transaction and output gate).
import type { Definition } from "../engine/dag";
import type { EventEnvelope, EventType, NodeStatus } from "../engine/events";
import type { EmittedEvent, KeyedRequest } from "../engine/run/messages";
import type { ExecRecord, NodeRecord } from "../engine/run/state";

/** An execution's LLM calls, summed. */
export type UsageTotals = { calls: number; input_tokens: number; output_tokens: number; cost_usd: number };

/** One LLM call as the ledger records it (the shape of a D1 llm_usage row). */
export interface UsageRow {
  id: string;
  tenant_id: string;
  workflow_id: string;
  execution_id: string;
  node_id: string;
  attempt: number;
  provider: string;
  model: string;
  month: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  cost_source: string;
  at: number;
}

// Append-only: each entry upgrades the schema by one version; never edit an applied entry.
const MIGRATIONS: string[] = [
  `CREATE TABLE execution (
     id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, workflow_id TEXT NOT NULL, version INTEGER NOT NULL,
     definition TEXT NOT NULL, input TEXT, status TEXT NOT NULL, output TEXT, error_code TEXT, error_message TEXT,
     created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, deadline_at INTEGER NOT NULL,
     flush_due_at INTEGER, flush_attempts INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE nodes (
     id TEXT PRIMARY KEY, ord INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
     due_at INTEGER, started_at INTEGER, finished_at INTEGER, wait_event TEXT, output TEXT,
     error_code TEXT, error_message TEXT, seq INTEGER NOT NULL);
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY, type TEXT NOT NULL, node_id TEXT, attempt INTEGER, at INTEGER NOT NULL, data TEXT NOT NULL);
   CREATE TABLE inbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, payload TEXT, received_at INTEGER NOT NULL, consumed_by TEXT);
   CREATE INDEX inbox_pending ON inbox (name, id) WHERE consumed_by IS NULL;
   CREATE TABLE dirty (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);`,
  `CREATE TABLE tickets (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, used_at INTEGER);`,
  // LLM usage per call; `projected` flips once D1 has the row (a flag, so no concurrent flush can clear it early).
  `CREATE TABLE usage (id TEXT PRIMARY KEY, node_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
     data TEXT NOT NULL, projected INTEGER NOT NULL DEFAULT 0);`,
  `ALTER TABLE execution ADD COLUMN concurrency_key TEXT;`,
  `ALTER TABLE execution ADD COLUMN trace_id TEXT;`,
  // Attempts keep counting across redrives (so idempotency keys stay distinct); retries count from the base.
  `ALTER TABLE nodes ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0;`,
  `ALTER TABLE execution ADD COLUMN labels TEXT; ALTER TABLE execution ADD COLUMN labels_projected INTEGER NOT NULL DEFAULT 0;`,
  `ALTER TABLE execution ADD COLUMN parent_execution_id TEXT; ALTER TABLE execution ADD COLUMN parent_node_id TEXT;
   ALTER TABLE execution ADD COLUMN parent_notified INTEGER NOT NULL DEFAULT 0;`,
  // One row per item of a map node: the per-item state the map runner resumes from after an eviction.
  `CREATE TABLE map_runs (node_id TEXT PRIMARY KEY, attempt INTEGER NOT NULL, total INTEGER NOT NULL, items_hash TEXT NOT NULL);
   CREATE TABLE map_items (
     node_id TEXT NOT NULL, idx INTEGER NOT NULL, item TEXT, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
     attempt_base INTEGER NOT NULL DEFAULT 0, due_at INTEGER, wait_event TEXT, output TEXT, error_code TEXT, error_message TEXT,
     started_at INTEGER, finished_at INTEGER, PRIMARY KEY (node_id, idx));
   CREATE INDEX map_items_by_status ON map_items (node_id, status, idx);
   CREATE INDEX map_items_by_wait ON map_items (wait_event) WHERE wait_event IS NOT NULL;`,
  // Runs created before history shards project to the main database, where their history already is.
  `ALTER TABLE execution ADD COLUMN history_shard INTEGER NOT NULL DEFAULT -1;`,
  // What D1 lacks is now "seq above projected_seq" (two statements fewer per event and per projection than a table
  // of dirty keys); an object upgraded here re-projects everything once, which D1's seq guard makes harmless.
  `ALTER TABLE execution ADD COLUMN projected_seq INTEGER NOT NULL DEFAULT -1; DROP TABLE dirty;`,
  `ALTER TABLE nodes ADD COLUMN result_key TEXT;`,
  `ALTER TABLE execution ADD COLUMN conversation TEXT;`,
  // node.delta batches of an ended attempt folded into one row spanning seq..end_seq (compactDeltas).
  `ALTER TABLE events ADD COLUMN end_seq INTEGER;
   CREATE INDEX events_spans ON events (end_seq) WHERE end_seq IS NOT NULL;`,
  // An agent node's durable steps (model turns, tool results, what woke it), by the node's idempotency key.
  `CREATE TABLE steps (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT, at INTEGER NOT NULL, PRIMARY KEY (scope, key));`,
  // The admission lane it was started in; provider windows keep a share for interactive runs.
  `ALTER TABLE execution ADD COLUMN lane TEXT NOT NULL DEFAULT 'default';`,
  // Forks: where a run came from (src/engine/fork.ts), and the request an llm node's answer was for.
  `ALTER TABLE execution ADD COLUMN fork TEXT; ALTER TABLE execution ADD COLUMN migrated TEXT;
   ALTER TABLE nodes ADD COLUMN request_hash TEXT;`,
  // A running execution that gave its running slot back while it waits (ExecRecord.parked).
  `ALTER TABLE execution ADD COLUMN parked TEXT;`,
  // Attempts deferred by provider admission, counted apart from attempt_base: a deferral is no new try, so it keeps
  // the node's (item's) Idempotency-Key and, with it, an agent's journal of steps.
  `ALTER TABLE nodes ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE map_items ADD COLUMN deferrals INTEGER NOT NULL DEFAULT 0;`,
  // An event sent with an Idempotency-Key keeps it (and the hash of its name and payload): a retry is that event.
  `ALTER TABLE inbox ADD COLUMN idempotency_key TEXT; ALTER TABLE inbox ADD COLUMN request_hash TEXT;
   CREATE UNIQUE INDEX inbox_by_key ON inbox (idempotency_key) WHERE idempotency_key IS NOT NULL;`,
];

/**
 * The schema MIGRATIONS arrive at, created in one statement list for a new object (most objects are new: one per
 * execution). ALTER TABLE re-reads the whole schema each time, so migrating a new object step by step cost more
 * than the rest of a short run's statements. test/durable/execution-schema.test.ts keeps the two identical; a new
 * migration must be folded in here as well.
 */
const FRESH_SCHEMA = `CREATE TABLE execution (
     id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, workflow_id TEXT NOT NULL, version INTEGER NOT NULL,
     definition TEXT NOT NULL, input TEXT, status TEXT NOT NULL, output TEXT, error_code TEXT, error_message TEXT,
     created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, deadline_at INTEGER NOT NULL,
     flush_due_at INTEGER, flush_attempts INTEGER NOT NULL DEFAULT 0, concurrency_key TEXT, trace_id TEXT, labels TEXT,
     labels_projected INTEGER NOT NULL DEFAULT 0, parent_execution_id TEXT, parent_node_id TEXT,
     parent_notified INTEGER NOT NULL DEFAULT 0, history_shard INTEGER NOT NULL DEFAULT -1,
     projected_seq INTEGER NOT NULL DEFAULT -1, conversation TEXT, lane TEXT NOT NULL DEFAULT 'default', fork TEXT,
     migrated TEXT, parked TEXT);
   CREATE TABLE nodes (
     id TEXT PRIMARY KEY, ord INTEGER NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
     due_at INTEGER, started_at INTEGER, finished_at INTEGER, wait_event TEXT, output TEXT,
     error_code TEXT, error_message TEXT, seq INTEGER NOT NULL, attempt_base INTEGER NOT NULL DEFAULT 0, result_key TEXT,
     request_hash TEXT, deferrals INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY, type TEXT NOT NULL, node_id TEXT, attempt INTEGER, at INTEGER NOT NULL, data TEXT NOT NULL,
     end_seq INTEGER);
   CREATE INDEX events_spans ON events (end_seq) WHERE end_seq IS NOT NULL;
   CREATE TABLE inbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, payload TEXT, received_at INTEGER NOT NULL, consumed_by TEXT,
     idempotency_key TEXT, request_hash TEXT);
   CREATE INDEX inbox_pending ON inbox (name, id) WHERE consumed_by IS NULL;
   CREATE UNIQUE INDEX inbox_by_key ON inbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE TABLE tickets (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, used_at INTEGER);
   CREATE TABLE usage (id TEXT PRIMARY KEY, node_id TEXT NOT NULL, attempt INTEGER NOT NULL, at INTEGER NOT NULL,
     data TEXT NOT NULL, projected INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE map_runs (node_id TEXT PRIMARY KEY, attempt INTEGER NOT NULL, total INTEGER NOT NULL, items_hash TEXT NOT NULL);
   CREATE TABLE map_items (
     node_id TEXT NOT NULL, idx INTEGER NOT NULL, item TEXT, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
     attempt_base INTEGER NOT NULL DEFAULT 0, due_at INTEGER, wait_event TEXT, output TEXT, error_code TEXT, error_message TEXT,
     started_at INTEGER, finished_at INTEGER, deferrals INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (node_id, idx));
   CREATE INDEX map_items_by_status ON map_items (node_id, status, idx);
   CREATE INDEX map_items_by_wait ON map_items (wait_event) WHERE wait_event IS NOT NULL;
   CREATE TABLE steps (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT, at INTEGER NOT NULL, PRIMARY KEY (scope, key));
   CREATE TABLE schema_version (version INTEGER NOT NULL);`;

/**
 * Bring an object's storage to the current schema migration by migration; a new object (no schema yet) is left
 * untouched ("absent") unless `stepwise`: its schema is created in one go with its execution (createFreshSchema).
 */
export function migrateExecutionSchema(sql: SqlStorage, stepwise = false): "absent" | "migrated" {
  const known = sql
    .exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE name = 'schema_version'")
    .one().n;
  if (known === 0 && !stepwise) return "absent";
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  const current = row?.version ?? 0;
  for (let v = current; v < MIGRATIONS.length; v++) sql.exec(MIGRATIONS[v] as string);
  if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (?)", MIGRATIONS.length);
  else if (current < MIGRATIONS.length) sql.exec("UPDATE schema_version SET version = ?", MIGRATIONS.length);
  return "migrated";
}

function createFreshSchema(sql: SqlStorage): void {
  sql.exec(FRESH_SCHEMA);
  sql.exec("INSERT INTO schema_version (version) VALUES (?)", MIGRATIONS.length);
}

const NODES_PER_INSERT = 33;

export const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
export const parse = (v: unknown): unknown => (v === null || v === undefined ? null : JSON.parse(v as string));

export class ExecutionStore {
  /** Whether unprojected LLM usage exists: unknown (null) until asked, then kept up to date by this store. */
  private usagePending: boolean | null = null;
  /** Whether any LLM usage is recorded: a new execution starts with none, so its view needs no query. */
  private usageAny: boolean | null = null;
  /** The input as last written: the row's input is rewritten only when a redrive replaced it. */
  private savedInput: unknown = undefined;

  /**
   * The object is new and has no schema yet, so no execution. The schema is written with the execution, in the same
   * commit: a separate commit for it cost every execution one more fsync on a local disk (strace), and an object
   * only asked about an id that does not exist (GET, a stream, an event) writes nothing (no table, no alarm).
   */
  private schemaless: boolean;
  /** The first seq of each attempt's streamed text not folded yet, by `node\0attempt`. */
  private readonly openDeltas = new Map<string, number>();

  constructor(private readonly sql: SqlStorage) {
    this.schemaless = migrateExecutionSchema(sql) === "absent";
  }

  loadExecution(): ExecRecord | null {
    if (this.schemaless) return null;
    const row = this.sql.exec<Record<string, SqlStorageValue>>("SELECT * FROM execution").toArray()[0];
    if (!row) return null;
    const input = parse(row.input);
    this.savedInput = input;
    return {
      ...row,
      input,
      definition: parse(row.definition),
      output: parse(row.output),
      labels: parse(row.labels),
      conversation: parse(row.conversation),
      fork: parse(row.fork),
      migrated: parse(row.migrated),
      parked: parse(row.parked),
    } as unknown as ExecRecord;
  }

  loadNodes(): NodeRecord[] {
    return this.sql
      .exec<Record<string, SqlStorageValue>>("SELECT * FROM nodes ORDER BY ord")
      .toArray()
      .map((r) => ({ ...r, output: parse(r.output) }) as unknown as NodeRecord);
  }

  createExecution(e: ExecRecord, nodeKinds: { id: string; kind: string }[]): void {
    if (this.schemaless) createFreshSchema(this.sql);
    this.schemaless = false;
    this.savedInput = e.input;
    this.usageAny = false;
    this.usagePending = false;
    this.sql.exec(
      `INSERT INTO execution (id, tenant_id, workflow_id, version, definition, input, status, created_at, deadline_at, concurrency_key, trace_id, labels,
       parent_execution_id, parent_node_id, history_shard, conversation, lane, fork)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      e.id,
      e.tenant_id,
      e.workflow_id,
      e.version,
      json(e.definition),
      json(e.input),
      e.status,
      e.created_at,
      e.deadline_at,
      e.concurrency_key,
      e.trace_id,
      json(e.labels),
      e.parent_execution_id,
      e.parent_node_id,
      e.history_shard,
      json(e.conversation),
      e.lane,
      json(e.fork),
    );
    // Nodes start at seq 0, above projected_seq (-1): the first projection lists pending nodes too. Several rows a
    // statement (a new run's storage work is most of its fixed cost), under the 100 bound parameters one may take.
    for (let from = 0; from < nodeKinds.length; from += NODES_PER_INSERT) {
      const chunk = nodeKinds.slice(from, from + NODES_PER_INSERT);
      this.sql.exec(
        `INSERT INTO nodes (id, ord, kind, status, attempt, seq) VALUES ${chunk.map(() => "(?, ?, ?, 'pending', 0, 0)").join(", ")}`,
        ...chunk.flatMap((n, i) => [n.id, from + i, n.kind]),
      );
    }
  }

  saveExecution(e: ExecRecord): void {
    const values = [
      e.status,
      json(e.output),
      e.error_code,
      e.error_message,
      e.started_at,
      e.finished_at,
      e.flush_due_at,
      e.flush_attempts,
      e.deadline_at,
      e.labels_projected,
      e.parent_notified,
      e.projected_seq,
      json(e.parked),
    ];
    const set = `UPDATE execution SET status = ?, output = ?, error_code = ?, error_message = ?, started_at = ?,
       finished_at = ?, flush_due_at = ?, flush_attempts = ?, deadline_at = ?, labels_projected = ?,
       parent_notified = ?, projected_seq = ?, parked = ?`;
    if (e.input === this.savedInput) return void this.sql.exec(set, ...values);
    this.sql.exec(`${set}, input = ?`, ...values, json(e.input));
    this.savedInput = e.input;
  }

  /**
   * Move the stored execution to another version (src/engine/migration.ts), in the same turn as the reducer's
   * `migrated` step: the definition, renamed node rows (and a renamed map's items and runs), removed rows dropped,
   * added ones pending, and every row in the new definition's order.
   */
  applyMigration(
    definition: Definition,
    version: number,
    migrated: NonNullable<ExecRecord["migrated"]>,
    plan: { renamed: Record<string, string>; added: { id: string; kind: string }[]; removed: string[] },
  ): void {
    this.sql.exec(
      "UPDATE execution SET definition = ?, version = ?, migrated = ?",
      json(definition),
      version,
      json(migrated),
    );
    for (const id of plan.removed) this.sql.exec("DELETE FROM nodes WHERE id = ?", id);
    // Through a temporary name first, so two nodes may trade names.
    const renames = Object.entries(plan.renamed);
    for (const [from, to] of renames) this.renameNode(from, `\u0000${to}`);
    for (const [, to] of renames) this.renameNode(`\u0000${to}`, to);
    for (const a of plan.added)
      this.sql.exec(
        "INSERT INTO nodes (id, ord, kind, status, attempt, seq) VALUES (?, 0, ?, 'pending', 0, 0)",
        a.id,
        a.kind,
      );
    definition.nodes.forEach((d, i) => this.sql.exec("UPDATE nodes SET ord = ? WHERE id = ?", i, d.id));
  }

  private renameNode(from: string, to: string): void {
    this.sql.exec("UPDATE nodes SET id = ? WHERE id = ?", to, from);
    this.sql.exec("UPDATE map_items SET node_id = ? WHERE node_id = ?", to, from);
    this.sql.exec("UPDATE map_runs SET node_id = ? WHERE node_id = ?", to, from);
  }

  saveNode(n: NodeRecord): void {
    this.sql.exec(
      `UPDATE nodes SET status = ?, attempt = ?, due_at = ?, started_at = ?, finished_at = ?, wait_event = ?, output = ?,
       error_code = ?, error_message = ?, seq = ?, attempt_base = ?, result_key = ?, request_hash = ?, deferrals = ?
       WHERE id = ?`,
      n.status,
      n.attempt,
      n.due_at,
      n.started_at,
      n.finished_at,
      n.wait_event,
      json(n.output),
      n.error_code,
      n.error_message,
      n.seq,
      n.attempt_base,
      n.result_key,
      n.request_hash,
      n.deferrals,
      n.id,
    );
  }

  /**
   * Append to the event log with the seq the reducer gave it. A seq that is not the next one fails the write
   * (primary key): memory and storage disagree, and the object resets.
   */
  appendEvent(e: EmittedEvent): void {
    this.sql.exec(
      "INSERT INTO events (seq, type, node_id, attempt, at, data) VALUES (?, ?, ?, ?, ?, ?)",
      e.seq,
      e.type,
      e.nodeId,
      e.attempt,
      e.at,
      JSON.stringify(e.data),
    );
    if (e.type === "node.delta" && e.nodeId !== null) {
      const open = `${e.nodeId}\u0000${e.attempt}`;
      if (!this.openDeltas.has(open)) this.openDeltas.set(open, e.seq);
    }
  }

  /**
   * Streamed text is logged as it comes, a row per batch the node sends (an llm node sends one about every 50 ms);
   * once the attempt has ended its batches become one row spanning their seqs (`end_seq`), which events() reads back
   * as the same events: same seqs, same text, same times. Only spans this object saw opening are folded: batches of
   * an attempt cut off by an eviction stay as they were written.
   */
  compactDeltas(nodeId: string, attempt: number | null): void {
    const open = `${nodeId}\u0000${attempt}`;
    const first = this.openDeltas.get(open);
    if (first === undefined) return;
    this.openDeltas.delete(open);
    const rows = this.sql
      .exec<{ seq: number; at: number; data: string }>(
        "SELECT seq, at, data FROM events WHERE seq >= ? AND type = 'node.delta' AND node_id = ? AND attempt = ? AND end_seq IS NULL ORDER BY seq",
        first,
        nodeId,
        attempt,
      )
      .toArray();
    const last = rows.at(-1);
    if (rows.length < 2 || !last) return;
    let text = "";
    const parts: DeltaPart[] = [];
    for (const r of rows) {
      const piece = JSON.parse(r.data) as { text: string; offset: number };
      parts.push([r.seq, r.at, piece.text.length, piece.offset]);
      text += piece.text;
    }
    this.sql.exec(
      "DELETE FROM events WHERE seq >= ? AND seq <= ? AND type = 'node.delta' AND node_id = ? AND attempt = ?",
      first,
      last.seq,
      nodeId,
      attempt,
    );
    this.sql.exec(
      "INSERT INTO events (seq, type, node_id, attempt, at, data, end_seq) VALUES (?, 'node.delta', ?, ?, ?, ?, ?)",
      first,
      nodeId,
      attempt,
      rows[0]!.at,
      JSON.stringify({ text, parts }),
      last.seq,
    );
  }

  lastSeq(): number {
    return this.sql
      .exec<{ s: number }>(
        "SELECT max(COALESCE((SELECT MAX(seq) FROM events), 0), COALESCE((SELECT MAX(end_seq) FROM events WHERE end_seq IS NOT NULL), 0)) AS s",
      )
      .one().s;
  }

  /**
   * Up to `limit` events after `after`, in seq order, folded delta spans read back as the events they were. A span
   * that began at or before `after` and goes past it is read too (its later events are after the cursor); a full page
   * stops at its last row's seq, since a span's events beyond it may interleave with rows of the next page.
   */
  events(executionId: string, after: number, limit: number): EventEnvelope[] {
    const spans =
      after > 0
        ? this.sql.exec<EventRow>("SELECT * FROM events WHERE end_seq > ?1 AND seq <= ?1", after).toArray()
        : [];
    const rows = this.sql
      .exec<EventRow>("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
      .toArray();
    const upTo = rows.length === limit ? (rows.at(-1) as EventRow).seq : Infinity;
    const out: EventEnvelope[] = [];
    let folded = spans.length > 0;
    for (const e of spans.concat(rows)) {
      const data = JSON.parse(e.data) as Record<string, unknown>;
      if (e.end_seq === null) {
        out.push(envelope(executionId, e.seq, e.type, e.node_id, e.attempt, e.at, data));
        continue;
      }
      folded = true;
      const text = data.text as string;
      let from = 0;
      for (const [seq, at, length, offset] of data.parts as DeltaPart[]) {
        if (seq > after && seq <= upTo)
          out.push(
            envelope(executionId, seq, "node.delta", e.node_id, e.attempt, at, {
              text: text.slice(from, from + length),
              offset,
            }),
          );
        from += length;
      }
    }
    if (folded) out.sort((a, b) => a.seq - b.seq);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  addTicket(hash: string, expiresAt: number, now: number): void {
    // Tickets live for seconds; anything an hour past its expiry is only clutter.
    this.sql.exec("DELETE FROM tickets WHERE expires_at < ?", now - 3_600_000);
    this.sql.exec("INSERT INTO tickets (hash, expires_at) VALUES (?, ?)", hash, expiresAt);
  }

  /** Use a ticket once: true only for an unexpired ticket that was never used before. */
  consumeTicket(hash: string, now: number): boolean {
    return (
      this.sql
        .exec(
          "UPDATE tickets SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ? RETURNING hash",
          now,
          hash,
          now,
        )
        .toArray().length > 0
    );
  }

  addUsage(u: UsageRow): void {
    this.usagePending = true;
    this.usageAny = true;
    this.sql.exec(
      "INSERT INTO usage (id, node_id, attempt, at, data) VALUES (?, ?, ?, ?, ?)",
      u.id,
      u.node_id,
      u.attempt,
      u.at,
      JSON.stringify(u),
    );
  }

  /** LLM calls D1 does not have yet. Most runs make none: then this asks storage once per object, not per flush. */
  unprojectedUsage(): UsageRow[] {
    if (this.usagePending === false) return [];
    const rows = this.sql
      .exec<{ data: string }>("SELECT data FROM usage WHERE projected = 0 ORDER BY at")
      .toArray()
      .map((r) => JSON.parse(r.data) as UsageRow);
    this.usagePending = rows.length > 0;
    return rows;
  }

  /** Every LLM call of the execution, summed: what GET /v1/executions/:id shows as its usage. */
  usageTotals(): UsageTotals {
    if (this.usageAny === false) return { calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
    const totals = this.sql
      .exec<UsageTotals>(
        `SELECT count(*) AS calls, coalesce(sum(json_extract(data, '$.input_tokens')), 0) AS input_tokens,
          coalesce(sum(json_extract(data, '$.output_tokens')), 0) AS output_tokens,
          coalesce(sum(json_extract(data, '$.cost_usd')), 0) AS cost_usd FROM usage`,
      )
      .one();
    this.usageAny = totals.calls > 0;
    return totals;
  }

  markUsageProjected(ids: string[]): void {
    for (const id of ids) this.sql.exec("UPDATE usage SET projected = 1 WHERE id = ?", id);
    // Calls recorded while that projection was on its way are still pending: look again next time.
    if (ids.length > 0) this.usagePending = null;
  }

  /** What a durable step recorded under `scope` (a node's idempotency key), or undefined when it has not run. */
  stepValue(scope: string, key: string): unknown {
    const row = this.sql
      .exec<{ value: string | null }>("SELECT value FROM steps WHERE scope = ? AND key = ?", scope, key)
      .toArray()[0];
    return row ? parse(row.value) : undefined;
  }

  /** Record a durable step's result; it commits with the rest of the object's writes of this turn. */
  recordStep(scope: string, key: string, value: unknown, at: number): void {
    this.sql.exec(
      "INSERT INTO steps (scope, key, value, at) VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, at = excluded.at",
      scope,
      key,
      json(value ?? null),
      at,
    );
  }

  /** Keep a received event: consumed at once by `consumedBy`, or buffered for a later wait when null. */
  addToInbox(name: string, payload: unknown, at: number, consumedBy: string | null = null, once?: KeyedRequest): void {
    this.sql.exec(
      "INSERT INTO inbox (name, payload, received_at, consumed_by, idempotency_key, request_hash) VALUES (?, ?, ?, ?, ?, ?)",
      name,
      json(payload),
      at,
      consumedBy,
      once?.key ?? null,
      once?.hash ?? null,
    );
  }

  /** The event received with this Idempotency-Key: what it was sent with, and who took it (null: still buffered). */
  inboxByKey(key: string): { request_hash: string; consumed_by: string | null } | null {
    return (
      this.sql
        .exec<{ request_hash: string; consumed_by: string | null }>(
          "SELECT request_hash, consumed_by FROM inbox WHERE idempotency_key = ?",
          key,
        )
        .toArray()[0] ?? null
    );
  }

  /** Consume the oldest buffered event with this name for a waiting node. */
  takeFromInbox(name: string, nodeId: string): { payload: unknown; received_at: number } | null {
    const row = this.sql
      .exec<{ id: number; payload: string | null; received_at: number }>(
        "SELECT id, payload, received_at FROM inbox WHERE name = ? AND consumed_by IS NULL ORDER BY id LIMIT 1",
        name,
      )
      .toArray()[0];
    if (!row) return null;
    this.sql.exec("UPDATE inbox SET consumed_by = ? WHERE id = ?", nodeId, row.id);
    return { payload: parse(row.payload), received_at: row.received_at };
  }
}

/** One batch of a folded delta span: its seq, its time, the length of its text and where that text goes. */
type DeltaPart = [seq: number, at: number, length: number, offset: number];

type EventRow = {
  seq: number;
  type: EventType;
  node_id: string | null;
  attempt: number | null;
  at: number;
  data: string;
  end_seq: number | null;
};

/** The one event envelope every transport carries. */
export function envelope(
  executionId: string,
  seq: number,
  type: EventType,
  nodeId: string | null,
  attempt: number | null,
  at: number,
  data: Record<string, unknown>,
): EventEnvelope {
  return {
    seq,
    type,
    execution_id: executionId,
    ...(nodeId !== null ? { node_id: nodeId } : {}),
    ...(attempt !== null ? { attempt } : {}),
    at: new Date(at).toISOString(),
    data,
  };
}

export type { ExecRecord, NodeRecord, NodeStatus };

// Per-item state of map nodes in the ExecutionObject's SQLite (tables created by execution-store's migrations).
// Every write is synchronous and commits with the rest of the step, like the node rows.
import { CHILD_EVENT_LIKE, childIdOf } from "../engine/child";
import { emptyCounts, ITEM_STATUSES, type FinishedItem, type ItemCounts, type ItemStatus } from "../engine/map";
import { json, parse } from "./execution-store";

export interface ItemRecord {
  node_id: string;
  idx: number;
  item: unknown;
  status: ItemStatus;
  attempt: number;
  /** Attempts made before the last redrive; the item's retry policy counts from here, and its Idempotency-Key changes. */
  attempt_base: number;
  /** Attempts since the last redrive that provider admission deferred (NodeRecord.deferrals). */
  deferrals: number;
  due_at: number | null;
  wait_event: string | null;
  output: unknown;
  error_code: string | null;
  error_message: string | null;
  started_at: number | null;
  finished_at: number | null;
}

type Row = Record<string, SqlStorageValue>;
const record = (r: Row): ItemRecord =>
  ({ ...r, item: parse(r.item), output: parse(r.output) }) as unknown as ItemRecord;

export class MapStore {
  constructor(private readonly sql: SqlStorage) {}

  /** The attempt of the map node its items were laid out for, and a hash of the items then. */
  run(nodeId: string): { attempt: number; total: number; items_hash: string } | null {
    return (
      this.sql
        .exec<{ attempt: number; total: number; items_hash: string }>(
          "SELECT attempt, total, items_hash FROM map_runs WHERE node_id = ?",
          nodeId,
        )
        .toArray()[0] ?? null
    );
  }

  /**
   * Lay out the items for a new attempt of the map node. The same items as last time (a redrive) keep the items
   * that succeeded and re-run the rest, with attempts counting on; different items start over.
   */
  layOut(nodeId: string, attempt: number, items: readonly unknown[], hash: string): void {
    const prev = this.run(nodeId);
    if (prev && prev.items_hash === hash && prev.total === items.length) {
      this.sql.exec(
        `UPDATE map_items SET status = 'pending', attempt_base = attempt, deferrals = 0, due_at = NULL, wait_event = NULL, output = NULL,
         error_code = NULL, error_message = NULL, started_at = NULL, finished_at = NULL WHERE node_id = ? AND status != 'succeeded'`,
        nodeId,
      );
    } else {
      this.sql.exec("DELETE FROM map_items WHERE node_id = ?", nodeId);
      items.forEach((item, idx) =>
        this.sql.exec(
          "INSERT INTO map_items (node_id, idx, item, status) VALUES (?, ?, ?, 'pending')",
          nodeId,
          idx,
          json(item),
        ),
      );
    }
    this.sql.exec(
      "INSERT INTO map_runs (node_id, attempt, total, items_hash) VALUES (?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET attempt = excluded.attempt, total = excluded.total, items_hash = excluded.items_hash",
      nodeId,
      attempt,
      items.length,
      hash,
    );
  }

  /** Items recorded as running: after an eviction, attempts nobody is waiting for any more. */
  running(nodeId: string): ItemRecord[] {
    return this.sql
      .exec<Row>("SELECT * FROM map_items WHERE node_id = ? AND status = 'running' ORDER BY idx", nodeId)
      .toArray()
      .map(record);
  }

  /** Up to `limit` items that may start now: retries that fell due first, then pending items in input order. */
  startable(nodeId: string, now: number, limit: number): ItemRecord[] {
    const due = this.sql
      .exec<Row>(
        "SELECT * FROM map_items WHERE node_id = ? AND status = 'retrying' AND due_at <= ? ORDER BY due_at LIMIT ?",
        nodeId,
        now,
        limit,
      )
      .toArray();
    const pending =
      due.length < limit
        ? this.sql
            .exec<Row>(
              "SELECT * FROM map_items WHERE node_id = ? AND status = 'pending' ORDER BY idx LIMIT ?",
              nodeId,
              limit - due.length,
            )
            .toArray()
        : [];
    return [...due, ...pending].map(record);
  }

  save(i: ItemRecord): void {
    this.sql.exec(
      `UPDATE map_items SET status = ?, attempt = ?, attempt_base = ?, deferrals = ?, due_at = ?, wait_event = ?, output = ?,
       error_code = ?, error_message = ?, started_at = ?, finished_at = ? WHERE node_id = ? AND idx = ?`,
      i.status,
      i.attempt,
      i.attempt_base,
      i.deferrals,
      i.due_at,
      i.wait_event,
      json(i.output),
      i.error_code,
      i.error_message,
      i.started_at,
      i.finished_at,
      i.node_id,
      i.idx,
    );
  }

  counts(nodeId: string): ItemCounts {
    const counts = emptyCounts();
    for (const r of this.sql.exec<{ status: ItemStatus; n: number }>(
      "SELECT status, COUNT(*) AS n FROM map_items WHERE node_id = ? GROUP BY status",
      nodeId,
    )) {
      if ((ITEM_STATUSES as readonly string[]).includes(r.status)) counts[r.status] = r.n;
      counts.total += r.n;
    }
    return counts;
  }

  /** When the earliest retrying item falls due; null when none is retrying. */
  nextDue(nodeId: string): number | null {
    return this.sql
      .exec<{ t: number | null }>(
        "SELECT MIN(due_at) AS t FROM map_items WHERE node_id = ? AND status = 'retrying'",
        nodeId,
      )
      .one().t;
  }

  /** The item waiting for the named event (a child execution's end), if any. */
  waitingFor(event: string): ItemRecord | null {
    const row = this.sql
      .exec<Row>("SELECT * FROM map_items WHERE wait_event = ? AND status = 'waiting' LIMIT 1", event)
      .toArray()[0];
    return row ? record(row) : null;
  }

  /** Items of the node waiting for their child execution: each still holds one of the map's concurrency slots. */
  waitingCount(nodeId: string): number {
    return this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM map_items WHERE node_id = ? AND status = 'waiting'", nodeId)
      .one().n;
  }

  /** Child executions items of any map node are waiting for. */
  awaitedChildren(nodeId?: string): string[] {
    const rows =
      nodeId === undefined
        ? this.sql
            .exec<{ e: string }>(
              "SELECT wait_event AS e FROM map_items WHERE status = 'waiting' AND wait_event LIKE ?",
              CHILD_EVENT_LIKE,
            )
            .toArray()
        : this.sql
            .exec<{ e: string }>(
              "SELECT wait_event AS e FROM map_items WHERE node_id = ? AND status = 'waiting' AND wait_event LIKE ?",
              nodeId,
              CHILD_EVENT_LIKE,
            )
            .toArray();
    return rows.map((r) => childIdOf(r.e) as string);
  }

  /** Cancel every item not yet finished (the map stops early, or the execution ended). */
  cancelOpen(nodeId: string | null, now: number): void {
    const open = "status IN ('pending', 'running', 'retrying', 'waiting')";
    if (nodeId === null)
      this.sql.exec(`UPDATE map_items SET status = 'cancelled', due_at = NULL, finished_at = ? WHERE ${open}`, now);
    else
      this.sql.exec(
        `UPDATE map_items SET status = 'cancelled', due_at = NULL, finished_at = ? WHERE node_id = ? AND ${open}`,
        now,
        nodeId,
      );
  }

  /** Every item's end state in input order, for the map node's output. */
  finished(nodeId: string): FinishedItem[] {
    return this.sql
      .exec<Row>(
        "SELECT idx, status, output, error_code, error_message FROM map_items WHERE node_id = ? ORDER BY idx",
        nodeId,
      )
      .toArray()
      .map((r) => ({
        index: r.idx as number,
        status: r.status as ItemStatus,
        output: parse(r.output),
        error_code: r.error_code as string | null,
        error_message: r.error_message as string | null,
      }));
  }

  /** One page of items in input order after index `after`, optionally only those with `status`. */
  page(nodeId: string, status: ItemStatus | null, after: number, limit: number): ItemRecord[] {
    const rows =
      status === null
        ? this.sql.exec<Row>(
            "SELECT * FROM map_items WHERE node_id = ? AND idx > ? ORDER BY idx LIMIT ?",
            nodeId,
            after,
            limit,
          )
        : this.sql.exec<Row>(
            "SELECT * FROM map_items WHERE node_id = ? AND status = ? AND idx > ? ORDER BY idx LIMIT ?",
            nodeId,
            status,
            after,
            limit,
          );
    return rows.toArray().map(record);
  }
}

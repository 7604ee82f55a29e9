// Registering a monitor, the one way there is: POST /v1/monitors and the create_monitor node (through RunServices).
import type { Db } from "../db/client";
import { findMonitorByCheck, getMonitor, insertMonitor, type MonitorRow } from "../db/cron-repo";
import { canonicalHash } from "../lib/hash";

export type Registered =
  | { ok: true; row: MonitorRow; created: boolean }
  | { ok: false; code: "monitor_exists"; message: string; monitor_id: string; retryable: false };

/** What a caller says about a new monitor; its state (unknown, no checks yet, due now) is filled in here. */
export type NewMonitorRow = Omit<
  MonitorRow,
  | "check_hash"
  | "status"
  | "consecutive_failures"
  | "consecutive_successes"
  | "consecutive_unreachable"
  | "next_check_at"
  | "checking_until"
  | "ack_execution_id"
  | "last_checked_at"
  | "created_at"
  | "updated_at"
>;

/**
 * Insert the monitor unless one with its id exists (a re-run finds its own). A second monitor of the tenant on the
 * same check is refused with the existing id, unless `allowDuplicate`: watching one URL twice doubles every alert.
 */
export async function registerMonitor(
  db: Db,
  m: NewMonitorRow,
  now: number,
  allowDuplicate: boolean,
): Promise<Registered> {
  const hash = allowDuplicate ? null : await canonicalHash(m.check);
  const exists = async (): Promise<Registered | null> => {
    const other = hash === null ? null : await findMonitorByCheck(db, m.tenant_id, hash);
    if (!other || other.id === m.id) return null;
    const message = `Monitor ${other.id} already checks this; send allow_duplicate: true to register another.`;
    return { ok: false, code: "monitor_exists", message, monitor_id: other.id, retryable: false };
  };
  const before = await exists();
  if (before) return before;
  const full: MonitorRow = {
    ...m,
    check_hash: hash,
    status: "unknown",
    consecutive_failures: 0,
    consecutive_successes: 0,
    consecutive_unreachable: 0,
    next_check_at: now,
    checking_until: null,
    ack_execution_id: null,
    last_checked_at: null,
    created_at: now,
    updated_at: now,
  };
  if (await insertMonitor(db, full)) return { ok: true, row: full, created: true };
  // Not inserted: our own id from an earlier run, or a concurrent register of the same check won the index.
  const mine = await getMonitor(db, m.tenant_id, m.id);
  if (mine) return { ok: true, row: mine, created: false };
  const raced = await exists();
  if (raced) return raced;
  throw new Error(`monitor ${m.id} was neither inserted nor found`);
}

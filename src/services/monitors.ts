// Registering a monitor, the one way there is: POST /v1/monitors and the create_monitor node (through RunServices).
import type { Db } from "../db/client";
import { findMonitorByCheck, getMonitor, insertMonitor, type MonitorRow } from "../db/cron-repo";
import { canonicalHash } from "../lib/hash";

export type Registered =
  | { ok: true; row: MonitorRow; created: boolean }
  | { ok: false; code: "monitor_exists"; message: string; monitor_id: string; retryable: false };

/**
 * Insert the monitor unless one with its id exists (a re-run finds its own). A second monitor of the tenant on the
 * same check is refused with the existing id, unless `allowDuplicate`: watching one URL twice doubles every alert.
 */
export async function registerMonitor(
  db: Db,
  row: Omit<MonitorRow, "check_hash">,
  allowDuplicate: boolean,
): Promise<Registered> {
  const hash = allowDuplicate ? null : await canonicalHash(row.check);
  const exists = async (): Promise<Registered | null> => {
    const other = hash === null ? null : await findMonitorByCheck(db, row.tenant_id, hash);
    if (!other || other.id === row.id) return null;
    const message = `Monitor ${other.id} already checks this; send allow_duplicate: true to register another.`;
    return { ok: false, code: "monitor_exists", message, monitor_id: other.id, retryable: false };
  };
  const before = await exists();
  if (before) return before;
  const full: MonitorRow = { ...row, check_hash: hash };
  if (await insertMonitor(db, full)) return { ok: true, row: full, created: true };
  // Not inserted: our own id from an earlier run, or a concurrent register of the same check won the index.
  const mine = await getMonitor(db, row.tenant_id, row.id);
  if (mine) return { ok: true, row: mine, created: false };
  const raced = await exists();
  if (raced) return raced;
  throw new Error(`monitor ${row.id} was neither inserted nor found`);
}

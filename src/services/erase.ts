// Erasure of executions for DELETE /v1/executions/:id and its bulk form: Durable Object storage first, then D1.
import type { Db } from "../db/client";
import { deleteExecutions, executionFamily } from "../db/maintenance-repo";
import { executionStub } from "../durable/client";
import { inBatches } from "../lib/batches";

export type EraseResult = { ok: true; erased: string[] } | { ok: false; code: "execution_not_found" };

/**
 * Erase an execution and every child execution started under it: each object's storage and alarm (an unfinished run
 * is cancelled first, closing its streams), then their D1 history in one batch. Safe to repeat: an erase cut short
 * after the objects went finds the D1 rows left and finishes the job. A failure is thrown, never half-reported as done.
 */
export async function eraseExecution(env: Env, db: Db, tenantId: string, id: string): Promise<EraseResult> {
  const owned = await executionStub(env, id).erase(tenantId);
  // Read after the cancel: children it started are in D1 by then, and none can start any more.
  const family = await executionFamily(db, tenantId, id);
  if (!owned && family.length === 0) return { ok: false, code: "execution_not_found" };
  const children = family.filter((x) => x !== id);
  const results = await inBatches(children, 6, (child) => executionStub(env, child).erase(tenantId));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${children[i]}: ${String(r.reason)}`] : []));
  if (failed.length) throw new Error(`erasing child executions failed: ${failed.join("; ")}`);
  await deleteExecutions(db, [id, ...children]);
  return { ok: true, erased: [id, ...children] };
}

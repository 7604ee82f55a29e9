import { z } from "zod";
import { openDb } from "../db/client";
import { startExecution } from "../durable/start";
import { AppError } from "../middleware/errors";
import { FatalError, RetryableError, type NodeExecutor, type RunResult } from "./types";

const config = z
  .object({
    workflow_id: z.string().min(1).max(64),
    version: z.number().int().min(1).optional(),
    input: z.unknown().optional(),
    timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional(),
  })
  .strict();

/**
 * Runs another workflow as a child execution (its own Durable Object and id, linked to this node) and waits for it.
 * The child is keyed on this attempt (a retry starts a new child, a crash re-run of the same attempt finds the one it
 * started), so a re-run attempt finds the child it started instead of starting another;
 * the child tells this execution when it ends, and a failed child is a failed attempt under this node's retry policy.
 */
export const subWorkflow: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 30_000,
  async run({ config: c, idempotencyKey: nodeKey, attempt, services }) {
    const idempotencyKey = `${nodeKey}:${attempt}`;
    let childId: string;
    try {
      const started = await startExecution(services.env, openDb(services.env.DB).db, {
        tenantId: services.tenantId,
        workflowId: c.workflow_id,
        version: c.version,
        input: c.input ?? null,
        timeoutSeconds: c.timeout_seconds,
        idempotencyKey: `child:${idempotencyKey}`,
        requestForHash: { parent_attempt: idempotencyKey },
        parent: { execution_id: services.executionId, node_id: services.nodeId },
      });
      childId = started.id;
    } catch (err) {
      if (err instanceof AppError && err.status < 500) throw new FatalError(`child_${err.code}`, err.detail);
      // The child's object or D1 was briefly unavailable: the attempt is retried (the child is keyed on it).
      if (err instanceof AppError) throw new RetryableError(`child_${err.code}`, err.detail);
      throw err;
    }
    return { wait: { until: null, event: `child:${childId}` } };
  },
};

/** What a child execution's end means for the attempt that waited for it: its output, or a failed attempt. */
export function childOutcome(
  childId: string,
  child: { status: string; output: unknown; error: { code: string; message: string } | null },
): RunResult {
  if (child.status === "succeeded")
    return { ok: true, output: { execution_id: childId, output: child.output ?? null } };
  const message = `child execution ${childId} ${child.status}${child.error ? `: ${child.error.message}` : ""}`;
  return { ok: false, error: { code: `child_${child.status}`, message, retryable: child.status !== "cancelled" } };
}

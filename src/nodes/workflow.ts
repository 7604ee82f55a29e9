import { z } from "zod";
import { executionTimeoutSeconds } from "../engine/dag";
import { FatalError, RetryableError, type NodeExecutor } from "./types";

const config = z
  .object({
    workflow_id: z.string().min(1).max(64),
    version: z.number().int().min(1).optional(),
    input: z.unknown().optional(),
    timeout_seconds: executionTimeoutSeconds.optional(),
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
    const started = await services.startChild({
      workflowId: c.workflow_id,
      version: c.version,
      input: c.input ?? null,
      timeoutSeconds: c.timeout_seconds,
      key: `${nodeKey}:${attempt}`,
    });
    // A child's object or D1 briefly unavailable is retried (the child is keyed on the attempt); the rest is final.
    if (!started.ok)
      throw new (started.retryable ? RetryableError : FatalError)(`child_${started.code}`, started.message);
    return { child: { execution_id: started.id } };
  },
};

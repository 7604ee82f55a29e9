// Retry/backoff math for node attempts; called by the ExecutionObject after a failed attempt.
import { z } from "zod";

export const retryPolicySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(100).default(3),
    initial_delay_ms: z.number().int().min(0).max(86_400_000).default(1000),
    backoff_coefficient: z.number().min(1).max(10).default(2),
    max_delay_ms: z.number().int().min(0).max(86_400_000).default(60_000),
    jitter: z.boolean().default(true),
    non_retryable: z.array(z.string().min(1).max(100)).max(50).default([]),
  })
  .strict();
export type RetryPolicy = z.output<typeof retryPolicySchema>;
export const DEFAULT_RETRY_POLICY: RetryPolicy = retryPolicySchema.parse({});

export interface AttemptError {
  code: string;
  message: string;
  retryable: boolean;
  retry_after_ms?: number;
  /**
   * Nothing was attempted: the call waits its turn (a provider window is full). Tried again after retry_after_ms,
   * and not counted against max_attempts.
   */
  deferred?: boolean;
}

export type RetryDecision =
  | { retry: true; delay_ms: number; deferred?: true }
  | { retry: false; reason: "fatal" | "non_retryable" | "exhausted" };

/**
 * Decide whether attempt number `attempt` (1-based, just failed) is followed by another.
 * Full jitter draws the delay uniformly from [0, backoff]; a server's Retry-After is a floor.
 * `random` is injected so the decision is deterministic under test.
 */
export function decideRetry(
  policy: RetryPolicy,
  attempt: number,
  error: AttemptError,
  random: () => number,
): RetryDecision {
  if (!error.retryable) return { retry: false, reason: "fatal" };
  if (error.deferred) return { retry: true, delay_ms: error.retry_after_ms ?? 0, deferred: true };
  if (policy.non_retryable.includes(error.code)) return { retry: false, reason: "non_retryable" };
  if (attempt >= policy.max_attempts) return { retry: false, reason: "exhausted" };
  const backoff = Math.min(policy.max_delay_ms, policy.initial_delay_ms * policy.backoff_coefficient ** (attempt - 1));
  const jittered = policy.jitter ? Math.floor(random() * backoff) : backoff;
  const delay = Math.max(jittered, error.retry_after_ms ?? 0);
  return { retry: true, delay_ms: delay };
}

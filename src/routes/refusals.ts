// The one table from a service's refusal code to an HTTP status: services return refusals as values, and only the
// edge turns them into problem+json (cron and executors branch on the same codes).
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { AppError } from "../middleware/errors";

const STATUS = {
  workflow_not_found: 404,
  version_not_found: 404,
  invalid_input: 422,
  validation_failed: 400,
  rate_limited: 429,
  model_not_configured: 422,
  unknown_lane: 422,
  idempotency_key_reused: 422,
  idempotency_key_in_flight: 409,
  execution_start_interrupted: 503,
  idempotent_resource_gone: 410,
  monitor_exists: 409,
  conversation_not_found: 404,
  conversation_busy: 409,
  message_over_budget: 422,
} as const satisfies Record<string, ContentfulStatusCode>;

export type RefusalCode = keyof typeof STATUS;

/** A refusal as the AppError the error handler renders; a retryable one says when to retry. */
export function refusal(r: { code: RefusalCode; message: string; retryable: boolean }): AppError {
  const { code, message, retryable, ok: _ok, ...extra } = r as typeof r & { ok?: boolean };
  return new AppError(STATUS[code], code, message, {
    ...extra,
    ...(retryable
      ? { headers: { "retry-after": String((extra as { retry_after_seconds?: number }).retry_after_seconds ?? 1) } }
      : {}),
  });
}

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { FieldError } from "../engine/dag";
import { problemResponse } from "../lib/problem";
import type { AppEnv } from "./context";
import { RESET_REASON } from "../durable/client";

/** A typed HTTP failure; rendered as RFC 9457 problem+json with a stable `code`. */
export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; [k: string]: unknown } = {},
    options?: ErrorOptions,
  ) {
    super(detail, options);
  }
}

export function problem(c: Context<AppEnv>, err: AppError): Response {
  const { headers, ...extra } = err.extra;
  return problemResponse({
    status: err.status,
    code: err.code,
    detail: err.detail,
    instance: new URL(c.req.url).pathname,
    request_id: c.get("requestId"),
    ...(headers ? { headers } : {}),
    extra,
  });
}

/** The one onError: typed errors keep their status and code; anything else is a 500 without internals. */
export function onError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof AppError) return problem(c, err);
  // A Durable Object that failed or was reset mid-call (workerd marks such errors remote/retryable/overloaded): the
  // object reloads from its storage on the next call, so the request can be retried as it is.
  const flags = err as { remote?: boolean; retryable?: boolean; overloaded?: boolean };
  if (flags.remote || flags.retryable || flags.overloaded || err.message.startsWith(RESET_REASON)) {
    console.error(
      JSON.stringify({
        level: "error",
        msg: "durable object call failed",
        request_id: c.get("requestId"),
        error: err.message,
      }),
    );
    return problem(
      c,
      new AppError(
        503,
        "execution_unavailable",
        "The execution's object failed while handling this request; retry it.",
        { headers: { "retry-after": "1" } },
      ),
    );
  }
  console.error(
    JSON.stringify({
      level: "error",
      msg: "unhandled error",
      request_id: c.get("requestId"),
      error: err.message,
      stack: err.stack,
    }),
  );
  return problem(
    c,
    new AppError(
      500,
      "internal_error",
      "The server failed to handle this request; it has been logged with the request id.",
    ),
  );
}

export function notFound(c: Context<AppEnv>): Response {
  return problem(
    c,
    new AppError(404, "route_not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
}

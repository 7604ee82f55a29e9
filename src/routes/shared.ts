import type { Context } from "hono";
import { z } from "zod";
import { decodeCursor } from "../lib/cursor";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { refusal } from "./refusals";
import type { CreateResult } from "../services/idempotent-create";

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export const limitParam = z.coerce.number().int().min(1).max(100).default(20);

export const cursorParam = z
  .string()
  .max(512)
  .optional()
  .transform((raw, ctx) => {
    try {
      return decodeCursor(raw);
    } catch {
      ctx.addIssue({ code: "custom", message: "malformed cursor" });
      return z.NEVER;
    }
  });

/** The request's Idempotency-Key, when it sent one: 1-255 visible ASCII characters, else 400. */
export function idempotencyKeyOf(c: Context<AppEnv>): string | undefined {
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new AppError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII characters.");
  }
  return key;
}

/**
 * A create's answer: 201 with Location when the object was made now, 200 with Idempotent-Replayed when an earlier
 * request with the same Idempotency-Key made it; refusals as problem+json naming the object the key belongs to.
 */
export function created<T extends { id: string }>(
  c: Context<AppEnv>,
  result: CreateResult<T>,
  location: (id: string) => string,
) {
  if (!result.ok) throw refusal(result);
  c.header("location", location(result.value.id));
  if (!result.created) c.header("idempotent-replayed", "true");
  return c.json(result.value, result.created ? 201 : 200);
}

/** A path parameter of the mount point (`/v1/workflows/:id/…`): Hono types those as optional in the sub-app. */
export function mountParam(c: Context<AppEnv>, name: string): string {
  const value = c.req.param(name);
  if (value === undefined)
    throw new AppError(404, "route_not_found", `No route matches ${c.req.method} ${c.req.path}.`);
  return value;
}

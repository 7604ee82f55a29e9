import { endTime, startTime } from "hono/timing";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { openDb } from "../db/client";
import { findApiKey, touchApiKey, type ApiKeyRow } from "../db/repo";
import { historyDatabase, MAIN_SHARD } from "../db/shards";
import { hashApiKey, keyPrefix } from "../lib/api-keys";
import type { AppEnv } from "./context";
import { AppError } from "./errors";

const CHALLENGE = { "www-authenticate": 'Bearer realm="edgeflow"' };
// `last_used_at` is kept to the hour: one D1 write per key per hour, not one per request.
const TOUCH_EVERY_MS = 3_600_000;
// One encoder for every request: making one is a runtime object, and the key check is on every request's path.
const utf8 = new TextEncoder();

/** Requires `Authorization: Bearer <key>`; the key's hash is compared in constant time and sets the tenant. */
export function requireApiKey() {
  return createMiddleware<AppEnv>(async (c, next) => {
    startTime(c, "auth");
    await authenticate(c);
    endTime(c, "auth");
    await next();
  });
}

/**
 * Reading (GET, opening a stream or getting a ticket for one) needs `read`; anything that changes state needs `write`.
 */
export function requiredScope(method: string, path: string): "read" | "write" {
  if (method === "GET" || method === "HEAD" || path === "/v1/stream-tickets") return "read";
  return "write";
}

/** The bearer key this request presents: its prefix (which finds the row) and the token; 401 when absent or malformed. */
export function presentedKey(c: Context<AppEnv>): { prefix: string; token: string } {
  const header = c.req.header("authorization");
  if (!header)
    throw new AppError(401, "missing_credentials", "Send an API key as `Authorization: Bearer <key>`.", {
      headers: CHALLENGE,
    });
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? "";
  const prefix = keyPrefix(token);
  if (!prefix) throw new AppError(401, "invalid_credentials", "The API key is malformed.", { headers: CHALLENGE });
  return { prefix, token };
}

/** Check the request's bearer key and set `tenantId`; throws a 401 AppError otherwise. */
export async function authenticate(c: Context<AppEnv>): Promise<void> {
  const { prefix, token } = presentedKey(c);
  const [row, hash] = await Promise.all([findApiKey(c.get("db").db, prefix), hashApiKey(token)]);
  acceptKey(c, row, hash);
}

/**
 * Verify a key row read for this request against the presented key's hash (constant time), its revocation and the
 * scope the request needs; then set the tenant, its history database and the key on the context. Throws 401/403.
 */
export function acceptKey(c: Context<AppEnv>, row: ApiKeyRow | undefined, hash: string): void {
  const given = utf8.encode(hash);
  const stored = utf8.encode(row?.hash ?? "0".repeat(64));
  const equal = given.byteLength === stored.byteLength && crypto.subtle.timingSafeEqual(given, stored);
  if (!row || !equal)
    throw new AppError(401, "invalid_credentials", "The API key is not valid.", { headers: CHALLENGE });
  if (row.revoked_at !== null)
    throw new AppError(401, "revoked_credentials", "The API key has been revoked.", { headers: CHALLENGE });
  const scope = requiredScope(c.req.method, c.req.path);
  if (!row.scopes.split(",").includes(scope)) {
    throw new AppError(
      403,
      "insufficient_scope",
      `This API key lacks the "${scope}" scope this request needs (it has: ${row.scopes || "none"}).`,
    );
  }
  const now = Date.now();
  if (row.last_used_at === null || row.last_used_at < now - TOUCH_EVERY_MS) {
    // After the response, outside the request's D1 count; a failed write is simply tried again by the next request.
    c.executionCtx.waitUntil(
      touchApiKey(openDb(c.env.DB).db, row.id, now, TOUCH_EVERY_MS).catch((err) =>
        console.error(
          JSON.stringify({
            level: "error",
            msg: "api key last_used_at not written; the next request retries",
            key_id: row.id,
            error: String(err),
          }),
        ),
      ),
    );
  }
  c.set("tenantId", row.tenant_id);
  c.set("history", row.history_shard === MAIN_SHARD ? c.get("db") : openDb(historyDatabase(c.env, row.history_shard)));
  c.set("apiKeyId", row.id);
  c.set("apiKeyRate", row.rate_limit_per_minute);
}

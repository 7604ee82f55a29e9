import { Hono } from "hono";
import { z } from "zod";
import { executionStub } from "../durable/client";
import { isId } from "../lib/ids";
import { authenticate } from "../middleware/auth";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";

const CREDENTIAL_PARAMS = new Set(["api_key", "apikey", "key", "token", "access_token", "authorization", "bearer"]);

function executionNotFound(id: string): AppError {
  return new AppError(404, "execution_not_found", `Execution ${id} does not exist.`);
}

/**
 * GET /v1/executions/:id/stream: WebSocket (Upgrade) or SSE (Accept: text/event-stream). Services send
 * `Authorization: Bearer`; browsers, which cannot set headers there, send a single-use `?ticket=`.
 * Mounted before the /v1 key middleware because a ticket stands in for the key here.
 */
export const streams = new Hono<AppEnv>().get("/:id/stream", async (c) => {
  const url = new URL(c.req.url);
  for (const [name, value] of url.searchParams) {
    if (CREDENTIAL_PARAMS.has(name.toLowerCase()) || /ef_[0-9a-f]{12}_/.test(value)) {
      throw new AppError(
        400,
        "credentials_in_url",
        "API keys never go in URLs: send Authorization: Bearer, or use a ticket from POST /v1/stream-tickets.",
      );
    }
  }
  const id = c.req.param("id");
  if (!isId("ex", id)) throw executionNotFound(id);
  const websocket = c.req.header("upgrade")?.toLowerCase() === "websocket";
  if (!websocket && !(c.req.header("accept") ?? "").includes("text/event-stream")) {
    throw new AppError(
      406,
      "stream_transport_required",
      "Open the stream as a WebSocket (Upgrade: websocket) or as SSE (Accept: text/event-stream).",
    );
  }
  const rawAfter = url.searchParams.get("after") ?? (websocket ? null : c.req.header("last-event-id")) ?? "0";
  const after = Number(rawAfter);
  if (!/^\d{1,15}$/.test(rawAfter) || !Number.isSafeInteger(after)) {
    throw new AppError(400, "validation_failed", "`after` / Last-Event-ID must be a non-negative integer event seq.", {
      errors: [{ path: "after", message: "expected a non-negative integer" }],
    });
  }
  const ticket = url.searchParams.get("ticket");
  const headers = new Headers({
    "x-edgeflow-after": String(after),
    "x-request-id": c.get("requestId"),
    "x-edgeflow-instance": url.pathname,
  });
  if (websocket) headers.set("upgrade", "websocket");
  if (c.req.header("authorization") || ticket === null) {
    await authenticate(c);
    headers.set("x-edgeflow-tenant", c.get("tenantId"));
  } else {
    headers.set("x-edgeflow-ticket", ticket);
  }
  const res = await executionStub(c.env, id).fetch(new Request("https://execution.internal/stream", { headers }));
  // A Durable Object's response has immutable headers; re-wrap it so the middleware can add X-Request-Id.
  return res.webSocket
    ? new Response(null, { status: 101, webSocket: res.webSocket, headers: res.headers })
    : new Response(res.body, { status: res.status, headers: res.headers });
});

export const ticketBody = z.object({ execution_id: z.string().min(1).max(64) }).strict();

/** POST /v1/stream-tickets {execution_id}: a short-lived, single-use ticket scoped to one execution. */
export const streamTickets = new Hono<AppEnv>().post("/", async (c) => {
  const { value } = await readJson(c, ticketBody);
  if (!isId("ex", value.execution_id)) throw executionNotFound(value.execution_id);
  const issued = await executionStub(c.env, value.execution_id).issueTicket(c.get("tenantId"));
  if (!issued) throw executionNotFound(value.execution_id);
  return c.json({ ticket: issued.ticket, execution_id: value.execution_id, expires_at: issued.expires_at }, 201);
});

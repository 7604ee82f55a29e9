// An OAuth2 authorization server's token endpoint (RFC 6749 §2.3.1, §4.4, §5, §6) and an API that takes its bearer
// tokens (RFC 6750), as the identity providers and APIs connections meet: form-encoded requests only, client
// authentication by HTTP Basic or in the body (never both), JSON error bodies with `error` and
// `error_description`, `Cache-Control: no-store`, refresh tokens that rotate (the old one is then `invalid_grant`),
// tokens that die early, and `WWW-Authenticate: Bearer error="invalid_token"` on a refused call.
// Each test registers its own client, so tests never see each other's counts.
import type { IncomingMessage } from "node:http";

interface Client {
  secret: string;
  ttl_s: number;
  refresh_token: string | null;
  /** Token requests received, good or bad. */
  token_requests: number;
  /** Planned failures of the next token requests: an HTTP status each. */
  fail_next: number[];
  /** Before answering a token request (to hold a refresh in flight). */
  delay_ms: number;
  /** POSTs performed per Idempotency-Key (a duplicate is a count above 1). */
  performed: Record<string, number>;
  refused: number;
}

const clients = new Map<string, Client>();
const tokens = new Map<string, { client_id: string; expires_at: number }>();
let serial = 0;

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** The client a live token was issued to, or null (unknown or expired): for other APIs that take these tokens. */
export function tokenOwner(token: string): string | null {
  const held = tokens.get(token);
  return held && held.expires_at >= Date.now() ? held.client_id : null;
}

/** Routes under /oauth/…; true when it answered. */
export async function oauthSite(req: IncomingMessage, url: URL, body: string, reply: Reply): Promise<boolean> {
  const path = url.pathname;
  if (path === "/oauth/_clients" && req.method === "POST") {
    const c = JSON.parse(body) as { client_id: string; client_secret: string; ttl_s?: number; refresh_token?: string };
    clients.set(c.client_id, {
      secret: c.client_secret,
      ttl_s: c.ttl_s ?? 3600,
      refresh_token: c.refresh_token ?? null,
      token_requests: 0,
      fail_next: [],
      delay_ms: 0,
      performed: {},
      refused: 0,
    });
    reply(204, null);
    return true;
  }
  const control = /^\/oauth\/_clients\/([^/]+)(?:\/(\w+))?$/.exec(path);
  if (control) {
    const client = clients.get(decodeURIComponent(control[1] as string));
    if (!client) return (reply(404, { error: "no such client" }), true);
    const action = control[2];
    if (!action) reply(200, { ...client, secret: undefined });
    // Every token of the client dies now (revoked, or expired before its expires_in).
    else if (action === "expire") {
      for (const [t, v] of tokens) if (v.client_id === decodeURIComponent(control[1] as string)) tokens.delete(t);
      reply(204, null);
    } else if (action === "fail") {
      client.fail_next.push(...(JSON.parse(body) as { statuses: number[] }).statuses);
      reply(204, null);
    } else if (action === "delay") {
      client.delay_ms = (JSON.parse(body) as { ms: number }).ms;
      reply(204, null);
    } else reply(404, { error: "unknown action" });
    return true;
  }
  if (path === "/oauth/token") {
    await tokenEndpoint(req, body, reply);
    return true;
  }
  if (path.startsWith("/oauth/api/")) {
    api(req, url, reply);
    return true;
  }
  return false;
}

async function tokenEndpoint(req: IncomingMessage, body: string, reply: Reply): Promise<void> {
  const noStore = { "cache-control": "no-store", pragma: "no-cache" };
  const error = (status: number, code: string, description: string, extra: Record<string, string> = {}) =>
    reply(status, { error: code, error_description: description }, { ...noStore, ...extra });
  if (req.method !== "POST") return error(405, "invalid_request", "the token endpoint takes POST only");
  if (!/^application\/x-www-form-urlencoded/.test(req.headers["content-type"] ?? ""))
    return error(400, "invalid_request", "the body must be application/x-www-form-urlencoded");
  const form = new URLSearchParams(body);
  // Client authentication: Basic (client_secret_basic) or client_id + client_secret in the body, never both.
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  let id: string | null = form.get("client_id");
  let secret: string | null = form.get("client_secret");
  if (basic) {
    if (secret) return error(400, "invalid_request", "more than one client authentication method");
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    id = decodeURIComponent(decoded.slice(0, i));
    secret = decodeURIComponent(decoded.slice(i + 1));
  }
  const client = id ? clients.get(id) : undefined;
  if (client) client.token_requests++;
  if (!client || !secret || client.secret !== secret)
    return error(401, "invalid_client", "client authentication failed", { "www-authenticate": 'Basic realm="oauth"' });
  if (client.delay_ms) await new Promise((r) => setTimeout(r, client.delay_ms));
  const planned = client.fail_next.shift();
  if (planned) return error(planned, planned >= 500 ? "server_error" : "temporarily_unavailable", "planned failure");
  const grant = form.get("grant_type");
  if (grant === "refresh_token") {
    if (!client.refresh_token || form.get("refresh_token") !== client.refresh_token)
      return error(400, "invalid_grant", "the refresh token is invalid, expired or was already used");
  } else if (grant !== "client_credentials") {
    return error(400, "unsupported_grant_type", `grant_type ${grant ?? "(none)"} is not supported`);
  }
  const access = `at_${id}_${++serial}_${Math.random().toString(36).slice(2)}`;
  tokens.set(access, { client_id: id as string, expires_at: Date.now() + client.ttl_s * 1000 });
  const rotated = grant === "refresh_token" ? `rt_${id}_${serial}` : undefined;
  if (rotated) client.refresh_token = rotated;
  reply(
    200,
    {
      access_token: access,
      token_type: "Bearer",
      expires_in: client.ttl_s,
      ...(form.get("scope") ? { scope: form.get("scope") } : {}),
      ...(rotated ? { refresh_token: rotated } : {}),
    },
    noStore,
  );
}

/** GET /oauth/api/me, POST /oauth/api/orders (Idempotency-Key counted): bearer tokens only. */
function api(req: IncomingMessage, url: URL, reply: Reply): void {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const held = token ? tokens.get(token) : undefined;
  if (!held || held.expires_at < Date.now()) {
    const owner = token ? /^at_(.+)_\d+_/.exec(token)?.[1] : undefined;
    const client = owner ? clients.get(owner) : undefined;
    if (client) client.refused++;
    reply(
      401,
      { error: "invalid_token" },
      {
        "www-authenticate": token
          ? 'Bearer realm="api", error="invalid_token", error_description="the access token expired"'
          : 'Bearer realm="api"',
      },
    );
    return;
  }
  const client = clients.get(held.client_id) as Client;
  if (url.pathname === "/oauth/api/me") return reply(200, { client_id: held.client_id });
  if (url.pathname === "/oauth/api/orders" && req.method === "POST") {
    const key = req.headers["idempotency-key"];
    if (typeof key !== "string") return reply(400, { error: "Idempotency-Key required" });
    client.performed[key] = (client.performed[key] ?? 0) + 1;
    return reply(201, { order: key });
  }
  reply(404, { error: "not found" });
}

import { DurableObject } from "cloudflare:workers";
import * as oauth from "oauth4webapi";
import {
  DEFAULT_TOKEN_SECONDS,
  isFresh,
  type CachedToken,
  type ConnectionConfig,
  type TokenResult,
} from "../engine/connection";
import { allowedHosts, guardedFetch, SsrfError } from "../lib/ssrf";

/**
 * One per tenant connection: the cached access token, refreshed before it expires with at most one token request in
 * flight (every caller meanwhile waits for that one). A caller whose token the API rejected names it, and gets a new
 * one unless someone already replaced it. The token never leaves this object except to a caller.
 */
export class ConnectionObject extends DurableObject<Env> {
  private inflight: Promise<TokenResult> | null = null;

  async token(cfg: ConnectionConfig, rejected: string | null = null): Promise<TokenResult> {
    const cached = await this.ctx.storage.get<CachedToken>("token");
    const now = Date.now();
    if (cached && cached.access_token !== rejected && isFresh(cached, cfg.version, now))
      return { ok: true, access_token: cached.access_token, expires_at: cached.expires_at, refreshed: false };
    if (this.inflight) {
      // Joined someone else's refresh: only its starter reports it as made (and records it).
      const got = await this.inflight;
      return got.ok ? { ...got, refreshed: false } : got;
    }
    this.inflight = this.refresh(cfg, cached).finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Drop the cached token (the connection was deleted or replaced). */
  async forget(): Promise<void> {
    await this.ctx.storage.delete("token");
  }

  private async refresh(cfg: ConnectionConfig, cached: CachedToken | undefined): Promise<TokenResult> {
    const as: oauth.AuthorizationServer = { issuer: new URL(cfg.token_url).origin, token_endpoint: cfg.token_url };
    const client: oauth.Client = { client_id: cfg.client_id };
    const auth =
      cfg.auth_method === "client_secret_post"
        ? oauth.ClientSecretPost(cfg.client_secret)
        : oauth.ClientSecretBasic(cfg.client_secret);
    const allowed = allowedHosts(this.env);
    const options = {
      // Through the SSRF guard; plain http only for a host the deployment allows (local identity providers).
      [oauth.customFetch]: (url: string, init: RequestInit) => guardedFetch(url, init, allowed),
      [oauth.allowInsecureRequests]: allowed.includes(new URL(cfg.token_url).hostname),
      signal: AbortSignal.timeout(15_000),
    };
    const extra: Record<string, string> = {
      ...(cfg.scope ? { scope: cfg.scope } : {}),
      ...(cfg.audience ? { audience: cfg.audience } : {}),
    };
    const sameVersion = cached?.version === cfg.version;
    const refreshToken = (sameVersion ? cached?.refresh_token : null) ?? cfg.refresh_token;
    let token: oauth.TokenEndpointResponse;
    try {
      if (cfg.grant === "client_credentials") {
        const res = await oauth.clientCredentialsGrantRequest(as, client, auth, extra, options);
        token = await oauth.processClientCredentialsResponse(as, client, res);
      } else {
        if (!refreshToken) return failure("connection_invalid", "the connection has no refresh_token", false);
        const res = await oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, {
          ...options,
          additionalParameters: extra,
        });
        token = await oauth.processRefreshTokenResponse(as, client, res);
      }
    } catch (err) {
      return tokenFailure(cfg, await challengeBody(err));
    }
    const now = Date.now();
    const next: CachedToken = {
      access_token: token.access_token,
      expires_at: now + (token.expires_in ?? DEFAULT_TOKEN_SECONDS) * 1000,
      obtained_at: now,
      version: cfg.version,
      refresh_token: token.refresh_token ?? refreshToken ?? null,
    };
    await this.ctx.storage.put("token", next);
    return { ok: true, access_token: next.access_token, expires_at: next.expires_at, refreshed: true };
  }
}

function failure(code: string, message: string, retryable: boolean): TokenResult {
  return { ok: false, code, message, retryable };
}

/**
 * A 401 with WWW-Authenticate (what RFC 6749 §5.2 says invalid_client comes with) arrives as a challenge with its
 * body unread; its JSON error body is the server's explanation, so read it.
 */
async function challengeBody(err: unknown): Promise<unknown> {
  if (!(err instanceof oauth.WWWAuthenticateChallengeError)) return err;
  const body = (await err.response.json().catch(() => null)) as { error?: unknown; error_description?: unknown } | null;
  const error = typeof body?.error === "string" ? body.error : (err.cause[0]?.parameters.error ?? "unauthorized");
  const desc = typeof body?.error_description === "string" ? body.error_description : null;
  return { status: err.status, error, error_description: desc };
}

/** The token endpoint's own words: an OAuth error body (invalid_client, invalid_grant…), a status, or the network. */
function tokenFailure(cfg: ConnectionConfig, err: unknown): TokenResult {
  const where = `connection ${cfg.name}: the token endpoint ${new URL(cfg.token_url).host}`;
  if (err instanceof oauth.ResponseBodyError || isOAuthError(err)) {
    const desc = err.error_description ? ` (${err.error_description})` : "";
    return failure("connection_failed", `${where} answered ${err.status} ${err.error}${desc}`, err.status >= 500);
  }
  if (err instanceof SsrfError) return failure("ssrf_refused", `${where}: ${err.message}`, false);
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    // A 5xx or a body that is no token answer: the server is unwell, maybe for a moment.
    const status = (err.cause as Response | undefined)?.status;
    return failure(
      "connection_failed",
      `${where}: ${err.message}${status ? ` (HTTP ${status})` : ""}`,
      status === undefined || status >= 500 || status === 429,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return failure("connection_failed", `${where} could not be reached: ${message}`, true);
}

function isOAuthError(v: unknown): v is { status: number; error: string; error_description: string | null } {
  return typeof v === "object" && v !== null && "status" in v && "error" in v && !(v instanceof Error);
}

// OAuth2 connections: what PUT /v1/connections/:name accepts, and when a cached access token is still good to use.
import { z } from "zod";

export const CONNECTION_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export const connectionBody = z
  .object({
    grant: z.enum(["client_credentials", "refresh_token"]),
    token_url: z.url({ protocol: /^https?$/ }).max(2048),
    client_id: z.string().min(1).max(512),
    client_secret: z.string().min(1).max(4096),
    /** How the client authenticates at the token endpoint (RFC 6749 §2.3.1): HTTP Basic unless the server wants POST. */
    auth_method: z.enum(["client_secret_basic", "client_secret_post"]).default("client_secret_basic"),
    scope: z.string().min(1).max(2048).optional(),
    /** Sent as `audience` (Auth0, Okta and others ask for it with client credentials). */
    audience: z.string().min(1).max(2048).optional(),
    /** Required for the refresh_token grant; a rotated refresh token replaces it in the connection's object. */
    refresh_token: z.string().min(1).max(8192).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.grant === "refresh_token" && !v.refresh_token)
      ctx.addIssue({
        code: "custom",
        path: ["refresh_token"],
        message: "the refresh_token grant needs a refresh_token",
      });
    if (v.grant === "client_credentials" && v.refresh_token)
      ctx.addIssue({ code: "custom", path: ["refresh_token"], message: "only the refresh_token grant takes one" });
  });
export type ConnectionBody = z.output<typeof connectionBody>;

/** What the connection's object needs to get a token: the config, opened secrets included, and its version. */
export interface ConnectionConfig {
  tenant_id: string;
  name: string;
  grant: "client_credentials" | "refresh_token";
  token_url: string;
  client_id: string;
  client_secret: string;
  auth_method: "client_secret_basic" | "client_secret_post";
  scope: string | null;
  audience: string | null;
  refresh_token: string | null;
  /** updated_at of the row: a token got under another version is not used. */
  version: number;
}

export interface CachedToken {
  access_token: string;
  /** ms epoch; the token is refreshed before this, not at it. */
  expires_at: number;
  obtained_at: number;
  version: number;
  /** The latest refresh token (rotated by the server), for the refresh_token grant. */
  refresh_token: string | null;
}

export type TokenResult =
  | { ok: true; access_token: string; expires_at: number; refreshed: boolean }
  | { ok: false; code: string; message: string; retryable: boolean };

/** A token is refreshed once less than a minute, or a tenth of its lifetime when that is shorter, is left. */
export function isFresh(t: CachedToken, version: number, now: number): boolean {
  if (t.version !== version) return false;
  const margin = Math.min(60_000, (t.expires_at - t.obtained_at) / 10);
  return now < t.expires_at - margin;
}

/** Lifetime when the server gives no expires_in: an hour, or until the API rejects it. */
export const DEFAULT_TOKEN_SECONDS = 3600;

// OAuth2 connections: the bearer token an http node or a monitor check gets by naming one.
import type { ConnectionConfig, TokenResult } from "../engine/connection";
import type { Db } from "../db/client";
import { getConnection, recordTokenOutcome, type ConnectionRow } from "../db/connections-repo";
import { open, seal } from "../lib/secret-box";

/** The sealed form a connection secret is stored in ("iv:ciphertext"), bound to the tenant, connection and field. */
export async function sealConnectionSecret(
  env: Env,
  tenantId: string,
  name: string,
  field: string,
  value: string,
): Promise<string> {
  const box = await seal(env, tenantId, `connection:${name}:${field}`, value);
  return `${box.iv}:${box.ciphertext}`;
}

async function openSecret(env: Env, row: ConnectionRow, field: string, stored: string): Promise<string> {
  const [iv = "", ciphertext = ""] = stored.split(":");
  return open(env, row.tenant_id, `connection:${row.name}:${field}`, { iv, ciphertext });
}

export function connectionStub(env: Env, tenantId: string, name: string) {
  return env.CONNECTION.get(env.CONNECTION.idFromName(`${tenantId}:${name}`));
}

/**
 * A bearer token of the tenant's connection `name`. `rejected`: the token the API just refused (a 401), to be
 * replaced unless someone already did. Failures are values naming what the token endpoint said; they are recorded
 * on the connection (GET /v1/connections, /health) and cleared by the next success.
 */
export async function connectionToken(
  env: Env,
  db: Db,
  tenantId: string,
  name: string,
  rejected: string | null = null,
): Promise<TokenResult> {
  const row = await getConnection(db, tenantId, name);
  if (!row)
    return { ok: false, code: "connection_not_found", message: `no connection named ${name}`, retryable: false };
  const cfg: ConnectionConfig = {
    tenant_id: tenantId,
    name,
    grant: row.grant,
    token_url: row.token_url,
    client_id: row.client_id,
    client_secret: await openSecret(env, row, "client_secret", row.client_secret),
    auth_method: row.auth_method,
    scope: row.scope,
    audience: row.audience,
    refresh_token: row.refresh_token ? await openSecret(env, row, "refresh_token", row.refresh_token) : null,
    version: row.updated_at,
  };
  const got = await connectionStub(env, tenantId, name).token(cfg, rejected);
  if (!got.ok && got.message !== row.last_error) await recordTokenOutcome(db, tenantId, name, { error: got.message });
  if (got.ok && (got.refreshed || row.last_error !== null))
    await recordTokenOutcome(db, tenantId, name, { at: Date.now() });
  return got;
}

import { Hono } from "hono";
import { CONNECTION_NAME, connectionBody } from "../engine/connection";
import * as repo from "../db/connections-repo";
import { allowedHosts, checkUrl } from "../lib/ssrf";
import { SecretsUnconfigured } from "../lib/secret-box";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { connectionStub, sealConnectionSecret } from "../services/connections";
import { iso } from "./shared";

function checkName(name: string): string {
  if (!CONNECTION_NAME.test(name))
    throw new AppError(400, "validation_failed", `Connection names match ${CONNECTION_NAME.source}.`, {
      errors: [{ path: "name", message: `must match ${CONNECTION_NAME.source}` }],
    });
  return name;
}

/** What GET shows of a connection: never a secret, never a token. */
function view(row: repo.ConnectionRow) {
  return {
    name: row.name,
    grant: row.grant,
    token_url: row.token_url,
    client_id: row.client_id,
    auth_method: row.auth_method,
    scope: row.scope,
    audience: row.audience,
    status: row.last_error ? "failing" : row.last_token_at ? "ok" : "unused",
    last_error: row.last_error,
    last_token_at: iso(row.last_token_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** /v1/connections: OAuth2 clients whose bearer tokens http nodes and monitor checks use by name. */
export const connectionsRoute = new Hono<AppEnv>()
  .put("/:name", async (c) => {
    const name = checkName(c.req.param("name"));
    const { value } = await readJson(c, connectionBody);
    const vetted = checkUrl(value.token_url, allowedHosts(c.env));
    if (!vetted.ok)
      throw new AppError(400, "validation_failed", "The connection is invalid.", {
        errors: [{ path: "token_url", message: vetted.reason }],
      });
    const tenantId = c.get("tenantId");
    const db = c.get("db").db;
    const existing = await repo.getConnection(db, tenantId, name);
    const now = Date.now();
    let sealed: { client_secret: string; refresh_token: string | null };
    try {
      sealed = {
        client_secret: await sealConnectionSecret(c.env, tenantId, name, "client_secret", value.client_secret),
        refresh_token: value.refresh_token
          ? await sealConnectionSecret(c.env, tenantId, name, "refresh_token", value.refresh_token)
          : null,
      };
    } catch (err) {
      if (err instanceof SecretsUnconfigured) throw new AppError(503, "secrets_unconfigured", err.message);
      throw err;
    }
    const row = await repo.putConnection(db, {
      tenant_id: tenantId,
      name,
      grant: value.grant,
      token_url: value.token_url,
      client_id: value.client_id,
      auth_method: value.auth_method,
      scope: value.scope ?? null,
      audience: value.audience ?? null,
      ...sealed,
      // A new version: the object drops the token it holds for the old config on its next call.
      created_at: existing?.created_at ?? now,
      updated_at: Math.max(now, (existing?.updated_at ?? 0) + 1),
      last_error: null,
      last_token_at: null,
    });
    return c.json(view(row), existing ? 200 : 201);
  })
  .get("/", async (c) => {
    const rows = await repo.listConnections(c.get("db").db, c.get("tenantId"));
    return c.json({ data: rows.map(view) });
  })
  .get("/:name", async (c) => {
    const row = await repo.getConnection(c.get("db").db, c.get("tenantId"), checkName(c.req.param("name")));
    if (!row) throw notFound(c.req.param("name"));
    return c.json(view(row));
  })
  .delete("/:name", async (c) => {
    const name = checkName(c.req.param("name"));
    if (!(await repo.deleteConnection(c.get("db").db, c.get("tenantId"), name))) throw notFound(name);
    await connectionStub(c.env, c.get("tenantId"), name).forget();
    return c.body(null, 204);
  });

function notFound(name: string): AppError {
  return new AppError(404, "connection_not_found", `No connection named ${name}.`);
}

// Talks to the DB binding through wrangler, locally (.wrangler/state) or remotely, for the npm scripts.
import { execFileSync } from "node:child_process";
import { generateApiKey } from "../../src/lib/api-keys.ts";

// `local` options pick another wrangler config / state dir (the bench keeps its own).
const where = ({ remote = false, config, persistTo } = {}) => [
  remote ? "--remote" : "--local",
  ...(config ? ["-c", config] : []),
  ...(persistTo && !remote ? ["--persist-to", persistTo] : []),
];

/** Run SQL against D1 and return the rows of the last statement. */
export function d1(sql, opts = {}) {
  const out = execFileSync("wrangler", ["d1", "execute", "DB", ...where(opts), "--json", "--command", sql], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
  });
  const parsed = JSON.parse(out);
  return parsed.at(-1)?.results ?? [];
}

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Create the tenant (if new) and a fresh API key for it; the key is returned once and stored only hashed. */
export async function createKey(tenant, { name = "default", scopes = "read,write", ...opts } = {}) {
  if (!SLUG.test(tenant)) throw new Error(`tenant must match ${SLUG} (got "${tenant}")`);
  if (!/^(read|write)(,(read|write))?$/.test(scopes)) throw new Error(`scopes must be read, write or read,write (got "${scopes}")`);
  if (!/^[\w .-]{1,64}$/.test(name)) throw new Error("key name must be 1-64 word characters, spaces, dots or dashes");
  const key = await generateApiKey();
  const now = Date.now();
  const tenantId = `ten_${tenant}`;
  const keyId = `key_${crypto.randomUUID()}`;
  d1(
    `INSERT INTO tenants (id, name, created_at) VALUES ('${tenantId}', '${tenant}', ${now}) ON CONFLICT (id) DO NOTHING;
     INSERT INTO api_keys (id, tenant_id, prefix, hash, name, created_at, scopes) VALUES ('${keyId}', '${tenantId}', '${key.prefix}', '${key.hash}', '${name}', ${now}, '${scopes}');`,
    opts,
  );
  return { tenantId, keyId, token: key.token, prefix: key.prefix };
}

export function keyExists(prefix, opts = {}) {
  if (!/^[0-9a-f]{12}$/.test(prefix)) return false;
  return d1(`SELECT id FROM api_keys WHERE prefix = '${prefix}' AND revoked_at IS NULL`, opts).length > 0;
}

export function revokeKey(keyId, opts = {}) {
  if (!/^key_[0-9a-f-]{36}$/.test(keyId)) throw new Error(`not a key id: ${keyId}`);
  d1(`UPDATE api_keys SET revoked_at = ${Date.now()} WHERE id = '${keyId}'`, opts);
}

export function applyMigrations(opts = {}) {
  execFileSync("wrangler", ["d1", "migrations", "apply", "DB", ...where(opts)], {
    stdio: "inherit",
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
  });
}

// Talks to the DB binding through wrangler, locally (.wrangler/state) or remotely, for the npm scripts.
import { execFileSync } from "node:child_process";
import { shardForNewTenant } from "../../src/db/shards.ts";
import { generateApiKey } from "../../src/lib/api-keys.ts";
import { readHistoryShardCount } from "./wrangler-config.mjs";

// `local` options pick another wrangler config / state dir (the bench keeps its own); EDGEFLOW_PERSIST_TO is the
// default state dir, as for npm start.
const where = ({ remote = false, config, persistTo = process.env.EDGEFLOW_PERSIST_TO || undefined } = {}) => [
  remote ? "--remote" : "--local",
  ...(config ? ["-c", config] : []),
  ...(persistTo && !remote ? ["--persist-to", persistTo] : []),
];

/** Sends of one statement to a local database before its error is reported. */
const LOCAL_SENDS = 6;
/**
 * A local database is one SQLite file that a running `npm start` writes too (its cron tick, a run): a statement that
 * meets its lock fails with SQLITE_BUSY, or, when workerd meets it, with an "internal error". Nothing was written, and
 * every statement here is safe to send again, so it is, after a pause. D1 itself never shows a caller that lock.
 */
const localLock = /SQLITE_BUSY|database is locked|internal error; reference/;

/** Run SQL against D1 and return the rows of the last statement. */
export function d1(sql, opts = {}) {
  for (let send = 1; ; send++) {
    try {
      return d1Once(sql, opts);
    } catch (err) {
      if (opts.remote || send >= LOCAL_SENDS || !localLock.test(err.message)) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250 * send);
    }
  }
}

function d1Once(sql, opts) {
  let out;
  try {
    out = execFileSync("wrangler", ["d1", "execute", "DB", ...where(opts), "--json", "--command", sql], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
    });
  } catch (err) {
    // With --json wrangler reports its error as {"error": {"text"}} on stdout.
    let text = err.stderr?.toString().trim() || err.message;
    try {
      text = JSON.parse(err.stdout).error.text ?? text;
    } catch {
      // Not JSON: keep stderr.
    }
    throw new Error(`wrangler d1 execute${opts.remote ? " --remote" : ""}: ${text}`);
  }
  const parsed = JSON.parse(out);
  return parsed.at(-1)?.results ?? [];
}

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const KEY_ID = /^key_[0-9a-f-]{36}$/;

/** Create the tenant (if new) and a fresh API key for it; the key is returned once and stored only hashed. */
export async function createKey(tenant, { name = "default", scopes = "read,write", rate, ...opts } = {}) {
  if (!SLUG.test(tenant)) throw new Error(`tenant must match ${SLUG} (got "${tenant}")`);
  if (!/^(read|write)(,(read|write))?$/.test(scopes))
    throw new Error(`scopes must be read, write or read,write (got "${scopes}")`);
  if (!/^[\w .-]{1,64}$/.test(name)) throw new Error("key name must be 1-64 word characters, spaces, dots or dashes");
  const perMinute = rate === undefined ? null : keyRate(rate);
  const key = await generateApiKey();
  const now = Date.now();
  const tenantId = `ten_${tenant}`;
  const keyId = `key_${crypto.randomUUID()}`;
  const shard = shardForNewTenant(tenantId, readHistoryShardCount(opts.config ?? "wrangler.toml"));
  d1(
    `INSERT INTO tenants (id, name, created_at, history_shard) VALUES ('${tenantId}', '${tenant}', ${now}, ${shard}) ON CONFLICT (id) DO NOTHING;
     INSERT INTO api_keys (id, tenant_id, prefix, hash, name, created_at, scopes, rate_limit_per_minute) VALUES ('${keyId}', '${tenantId}', '${key.prefix}', '${key.hash}', '${name}', ${now}, '${scopes}', ${perMinute ?? "NULL"});`,
    opts,
  );
  return { tenantId, keyId, token: key.token, prefix: key.prefix, rate: perMinute };
}

/** A key's requests a minute: a whole number from 1 to 100,000, or "default" (null: RATE_LIMIT_PER_MINUTE). */
function keyRate(rate) {
  if (rate === "default") return null;
  if (!/^\d+$/.test(rate) || Number(rate) < 1 || Number(rate) > 100_000)
    throw new Error(`rate must be a whole number of requests a minute from 1 to 100000, or default (got "${rate}")`);
  return Number(rate);
}

/** Set a key's own rate limit (null: the deployment's); the limiter reads it on the key's next request. */
export function setKeyRate(keyId, rate, opts = {}) {
  if (!KEY_ID.test(keyId)) throw new Error(`not a key id: ${keyId}`);
  const perMinute = keyRate(rate);
  const [row] = d1(
    `UPDATE api_keys SET rate_limit_per_minute = ${perMinute ?? "NULL"} WHERE id = '${keyId}' RETURNING rate_limit_per_minute`,
    opts,
  );
  if (!row) throw new Error(`no API key with id ${keyId}`);
  return row.rate_limit_per_minute;
}

export function keyExists(prefix, opts = {}) {
  if (!/^[0-9a-f]{12}$/.test(prefix)) return false;
  return d1(`SELECT id FROM api_keys WHERE prefix = '${prefix}' AND revoked_at IS NULL`, opts).length > 0;
}

/** Revoke a key (a second revoke keeps the first time); returns when it was revoked, or throws for an unknown id. */
export function revokeKey(keyId, opts = {}) {
  if (!KEY_ID.test(keyId)) throw new Error(`not a key id: ${keyId}`);
  const [row] = d1(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ${Date.now()}) WHERE id = '${keyId}' RETURNING revoked_at`,
    opts,
  );
  if (!row) throw new Error(`no API key with id ${keyId}`);
  return row.revoked_at;
}

/** A tenant's weight in provider windows it shares with other tenants (1 to 100); the tenant must exist. */
export function setWeight(tenant, weight, opts = {}) {
  if (!SLUG.test(tenant)) throw new Error(`tenant must match ${SLUG} (got "${tenant}")`);
  if (!/^\d+$/.test(weight) || Number(weight) < 1 || Number(weight) > 100)
    throw new Error(`weight must be a whole number from 1 to 100 (got "${weight}")`);
  const [row] = d1(`UPDATE tenants SET weight = ${Number(weight)} WHERE id = 'ten_${tenant}' RETURNING weight`, opts);
  if (!row) throw new Error(`no tenant ${tenant} (create it with: npm run keys -- create ${tenant})`);
  return row.weight;
}

/**
 * Apply pending migrations to the main database and every history shard the config binds (each has the whole
 * schema); returns the names applied, as "<binding>: <file>" for a shard. Wrangler's tables are kept for when it fails.
 */
export function applyMigrations(opts = {}) {
  const shards = readHistoryShardCount(opts.config ?? "wrangler.toml");
  return ["DB", ...Array.from({ length: shards }, (_, i) => `DB_HISTORY_${i}`)].flatMap((binding) =>
    applyMigrationsTo(binding, opts).map((m) => (binding === "DB" ? m : `${binding}: ${m}`)),
  );
}

function applyMigrationsTo(binding, opts) {
  let out;
  try {
    out = execFileSync("wrangler", ["d1", "migrations", "apply", binding, ...where(opts)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
    });
  } catch (err) {
    throw new Error(`applying D1 migrations to ${binding} failed:\n${err.stdout ?? ""}${err.stderr ?? err.message}`);
  }
  if (/No migrations to apply/.test(out)) return [];
  const pending = out.split(/About to apply/)[0];
  return [...new Set([...pending.matchAll(/\b(\d{4}_[\w-]+\.sql)\b/g)].map((m) => m[1]))];
}

/** The tenant's keys (all tenants' when none is named), newest first; never the hash. */
export function listKeys(tenant, opts = {}) {
  if (tenant !== undefined && !SLUG.test(tenant)) throw new Error(`tenant must match ${SLUG} (got "${tenant}")`);
  const filter = tenant === undefined ? "" : `WHERE tenant_id = 'ten_${tenant}'`;
  return d1(
    `SELECT id, tenant_id, name, scopes, rate_limit_per_minute, created_at, last_used_at, revoked_at FROM api_keys ${filter} ORDER BY created_at DESC, id`,
    opts,
  );
}

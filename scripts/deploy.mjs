// npm run deploy [-- --secrets-file FILE] [--url BASE] [--skip-smoke]
// Deploys to Cloudflare, in the order that keeps a deployment from going live half-configured:
// (a) wrangler is logged in, (b) the D1 database exists and its id is in wrangler.toml, and the R2 bucket for large
// outputs exists, (c) migrations are applied
// remotely, (d) required secrets are set, (e) wrangler deploy, (f) the smoke test against the deployed URL with a
// throwaway API key that is revoked afterwards. Stops at the first failing step with what to do; exit 1.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildDashboard } from "./build-dashboard.mjs";
import { applyMigrations, createKey, revokeKey } from "./lib/d1.mjs";
import { PLACEHOLDER_DATABASE_ID, readBucketName, readDatabaseId, writeDatabaseId } from "./lib/wrangler-config.mjs";

/** Secrets the Worker refuses to run without (LLM provider keys are optional: a tier without one fails clearly). */
export const REQUIRED_SECRETS = ["SECRETS_KEY", "METRICS_TOKEN"];

const { values } = parseArgs({
  options: {
    "secrets-file": { type: "string" },
    url: { type: "string" },
    "skip-smoke": { type: "boolean", default: false },
  },
});
const wranglerEnv = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const wrangler = (args, opts = {}) =>
  execFileSync("wrangler", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: wranglerEnv, ...opts });

let step = "";
try {
  step = "(a) wrangler whoami";
  const who = wrangler(["whoami"]);
  if (/not authenticated/i.test(who))
    throw new Error("not logged in: run `npx wrangler login`, or set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID)");
  say(`logged in (${/associated with the email (\S+?)\.?\s/.exec(who)?.[1] ?? "API token"})`);

  step = "(b) D1 database";
  if (readDatabaseId() === PLACEHOLDER_DATABASE_ID) {
    const id = createOrFindDatabase("edgeflow");
    writeDatabaseId(id);
    say(`D1 database edgeflow: ${id} (written to wrangler.toml: commit it)`);
  } else {
    say(`D1 database id from wrangler.toml: ${readDatabaseId()}`);
  }

  step = "(b) R2 bucket for large outputs";
  say(ensureBucket(readBucketName()));

  step = "(c) remote migrations";
  const applied = applyMigrations({ remote: true });
  say(applied.length ? applied.map((m) => `migration applied: ${m}`).join("\n  ") : "migrations: up to date");

  step = "(d) required secrets";
  const missing = REQUIRED_SECRETS.filter(
    (s) => !deployedSecrets().has(s) && !fileSecrets(values["secrets-file"]).has(s),
  );
  if (missing.length) {
    throw new Error(
      `missing secret(s) ${missing.join(", ")}. Set each with \`npx wrangler secret put NAME\` (a value: \`openssl rand -base64 32\`),` +
        " or pass them for the first deploy with `npm run deploy -- --secrets-file FILE` (NAME=value lines; keep the file out of git)",
    );
  }
  say(`secrets present: ${REQUIRED_SECRETS.join(", ")}`);

  step = "(e) wrangler deploy";
  // The dashboard ships as the Worker's static assets in the same upload.
  await buildDashboard();
  const out = wrangler(["deploy", ...(values["secrets-file"] ? ["--secrets-file", values["secrets-file"]] : [])]);
  const deployed = /https:\/\/[\w.-]+\.workers\.dev/.exec(out)?.[0];
  const url = values.url ?? deployed;
  say(
    `deployed${deployed ? ` to ${deployed}` : ""} (${/Current Version ID: (\S+)/.exec(out)?.[1] ?? "version id not printed"})`,
  );

  if (values["skip-smoke"]) say("smoke test skipped (--skip-smoke)");
  else {
    step = "(f) smoke test";
    if (!url) throw new Error("could not read the deployed URL from wrangler's output: pass --url https://your.domain");
    say(`smoke test against ${url}`);
    const key = await createKey("deploy-smoke", { remote: true, name: "deploy smoke" });
    try {
      execFileSync("node", ["scripts/smoke.mjs", url, key.token], { stdio: "inherit" });
    } finally {
      revokeKey(key.keyId, { remote: true });
    }
  }
  say(
    "done. Roll back with `npx wrangler rollback` (code only: D1 migrations go forward, so keep each one compatible with the code before it)",
  );
} catch (err) {
  console.error(`deploy stopped at ${step}: ${(err.stderr?.toString() || err.message).trim()}`);
  process.exitCode = 1;
}

function say(line) {
  console.log(`  ${line}`);
}

function createOrFindDatabase(name) {
  try {
    const out = wrangler(["d1", "create", name]);
    const id = /database_id"?\s*[:=]\s*"([0-9a-f-]{36})"/.exec(out)?.[1];
    if (!id) throw new Error(`could not read the new database's id from:\n${out}`);
    return id;
  } catch (err) {
    if (!/already exists/i.test(`${err.stdout}${err.stderr}${err.message}`)) throw err;
    const found = JSON.parse(wrangler(["d1", "list", "--json"])).find((d) => d.name === name);
    if (!found) throw err;
    return found.uuid;
  }
}

/** The R2 bucket node outputs go to when too large to keep inline; made once. */
function ensureBucket(name) {
  try {
    wrangler(["r2", "bucket", "create", name]);
    return `R2 bucket ${name}: created`;
  } catch (err) {
    if (!/already exists|already own/i.test(`${err.stdout}${err.stderr}${err.message}`)) throw err;
    return `R2 bucket ${name}: exists`;
  }
}

function deployedSecrets() {
  try {
    return new Set(JSON.parse(wrangler(["secret", "list", "--format", "json"])).map((s) => s.name));
  } catch {
    return new Set(); // the Worker does not exist yet: nothing is set
  }
}

function fileSecrets(path) {
  if (!path) return new Set();
  return new Set([...readFileSync(path, "utf8").matchAll(/^([A-Z0-9_]+)\s*=/gm)].map((m) => m[1]));
}

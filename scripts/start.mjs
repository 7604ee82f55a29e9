// npm start (and npm run dev, the same thing): apply local D1 migrations, make sure a dev tenant and key exist, run
// the Worker with local D1, Durable Objects and R2 on http://localhost:$PORT, and drive its Cron Trigger every
// minute, so schedules, monitors, alerts, the watchdog and retention run locally as they do on Cloudflare.
// EDGEFLOW_PERSIST_TO keeps local state in another folder (a second instance, or a test's own).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { keyPrefix } from "../src/lib/api-keys.ts";
import { resolveModel, TIERS, tierVar } from "../src/nodes/llm/config.ts";
import { buildDashboard } from "./build-dashboard.mjs";
import { driveCron } from "./lib/cron-driver.mjs";
import { applyMigrations, createKey, keyExists } from "./lib/d1.mjs";
import { startDevServer } from "./lib/dev-server.mjs";
import { ensureDevVar, readCrons, readDevVars, readVars } from "./lib/wrangler-config.mjs";

const port = process.env.PORT ?? "8787";
const persistTo = process.env.EDGEFLOW_PERSIST_TO || undefined;
const where = persistTo ? { persistTo } : {};
const keyFile = join(persistTo ?? ".wrangler", "dev-api-key");
const base = `http://127.0.0.1:${port}`;
const random = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

try {
  const applied = applyMigrations(where);
  console.log(
    applied.length ? applied.map((m) => `  D1 migration applied: ${m}`).join("\n") : "  D1 migrations: up to date",
  );
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

// Secrets live in the git-ignored .dev.vars (made once): SECRETS_KEY seals tenant secrets, METRICS_TOKEN guards
// /metrics.
ensureDevVar("SECRETS_KEY", () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64"));
const metricsToken = ensureDevVar("METRICS_TOKEN", () => `mt_${random()}`);

// The plaintext dev key is kept only in this local, git-ignored file so every start can print it.
let token = existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : "";
const prefix = keyPrefix(token);
if (!prefix || !keyExists(prefix, where)) {
  token = (await createKey("dev", { name: "local dev key", ...where })).token;
  mkdirSync(persistTo ?? ".wrangler", { recursive: true });
  writeFileSync(keyFile, `${token}\n`, { mode: 0o600 });
}

// The dashboard is served by the same Worker (wrangler.toml [assets]); rebuilt only when its sources changed.
try {
  console.log((await buildDashboard()) ? "  dashboard: built" : "  dashboard: up to date");
} catch (err) {
  console.error(`  the dashboard did not build: ${err.message}`);
  process.exit(1);
}

// Local development talks to local services (an Ollama, a mock API), so the SSRF guard lets loopback through here only.
// Email is written to disk by miniflare (wrangler logs each message's .eml path), so a local sender is safe.
const vars = {
  ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
  EMAIL_FROM: process.env.EMAIL_FROM || "edgeflow@localhost",
  // Approval links in emails and webhooks point at this server.
  PUBLIC_URL: process.env.PUBLIC_URL || base,
  ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
};
// Ctrl-C or SIGTERM disposes of the dev server, and workerd with it, before exiting.
let dev = null;
let cron = null;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    cron?.stop();
    await dev?.dispose().catch(() => undefined);
    process.exit(0);
  });
}
// No DevTools inspector unless INSPECTOR_PORT asks for one (scripts/lib/dev-server.mjs says what one costs).
try {
  dev = await startDevServer({
    port,
    persist: persistTo ?? ".wrangler/state",
    vars,
    inspectorPort: process.env.INSPECTOR_PORT || null,
    watch: true,
  });
} catch (err) {
  console.error(`  the Worker did not start: ${err.message}`);
  process.exit(1);
}

await ready();
cron = driveCron({ baseUrl: base, crons: readCrons(), log: (line) => console.error(`  [edgeflow cron] ${line}`) });
console.log(banner());

/**
 * Wait until the Worker answers a request. startDevServer resolves once it serves, but wrangler prints its "Ready on"
 * line after that: a first answered request puts the banner after it, as the last thing a user reads.
 */
async function ready() {
  for (const end = Date.now() + 120_000; Date.now() < end;) {
    const ok = await fetch(`${base}/openapi.json`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.error(`  the Worker did not answer on ${base} within 2 minutes`);
  await dev.dispose().catch(() => undefined);
  process.exit(1);
}

function banner() {
  // Tiers as the Worker sees them: [vars] from wrangler.toml, overridden by .dev.vars (secrets, local overrides).
  const vars = { ...readVars(), ...readDevVars() };
  const tiers = TIERS.map((tier) => {
    const r = resolveModel(vars, { tier });
    return `    ${tier.padEnd(6)} ${r.ok ? `${r.target.provider}:${r.target.model} (${r.target.baseUrl || "AI binding"})` : r.message}`;
  }).join("\n");
  const url = `http://localhost:${port}`;
  return `
  Edgeflow (local) on ${url}
  dashboard: ${url}/ (sign in with the key below)
  dev tenant API key: ${token}
  cron: ${readCrons().join(", ")} fired at every minute boundary (health: ${url}/health)

  LLM tiers (${TIERS.map(tierVar).join(", ")}):
${tiers}

  curl -H "Authorization: Bearer ${token}" ${url}/v1/workflows
  curl -H "Authorization: Bearer ${metricsToken}" ${url}/metrics
`;
}

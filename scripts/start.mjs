// npm start: apply local D1 migrations, make sure a dev tenant and key exist (printed every start),
// then run the Worker with local D1 and Durable Objects on http://localhost:8787.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { keyPrefix } from "../src/lib/api-keys.ts";
import { resolveModel, TIERS, tierVar } from "../src/nodes/llm/config.ts";
import { applyMigrations, createKey, keyExists } from "./lib/d1.mjs";

const KEY_FILE = ".wrangler/dev-api-key";
const port = process.env.PORT ?? "8787";

applyMigrations();

// Secrets are encrypted with SECRETS_KEY; locally it lives in the git-ignored .dev.vars (made once).
const devVars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
if (!/^SECRETS_KEY=/m.test(devVars)) {
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  writeFileSync(".dev.vars", `${devVars}${devVars && !devVars.endsWith("\n") ? "\n" : ""}SECRETS_KEY="${key}"\n`, { mode: 0o600 });
}

// The plaintext dev key is kept only in this local, git-ignored file so every start can print it.
let token = existsSync(KEY_FILE) ? readFileSync(KEY_FILE, "utf8").trim() : "";
const prefix = keyPrefix(token);
if (!prefix || !keyExists(prefix)) {
  token = (await createKey("dev", { name: "local dev key" })).token;
  mkdirSync(".wrangler", { recursive: true });
  writeFileSync(KEY_FILE, `${token}\n`, { mode: 0o600 });
}

// Tiers as the Worker will see them: [vars] from wrangler.toml, overridden by .dev.vars (secrets, local overrides).
const vars = { ...readVars("wrangler.toml"), ...readDevVars(".dev.vars") };
const tiers = TIERS.map((tier) => {
  const r = resolveModel(vars, { tier });
  return `  ${tier.padEnd(6)} ${r.ok ? `${r.target.provider}:${r.target.model} (${r.target.baseUrl || "AI binding"})` : r.message}`;
}).join("\n");

console.log(`
  Edgeflow (local) on http://localhost:${port}
  dev tenant API key: ${token}

  LLM tiers (${TIERS.map(tierVar).join(", ")}):
${tiers}

  curl -H "Authorization: Bearer ${token}" http://localhost:${port}/v1/workflows
`);

// Local development talks to local services (an Ollama, a mock API), so the SSRF guard lets loopback through here only.
const dev = spawn("wrangler", ["dev", "--port", port, "--ip", "127.0.0.1", "--test-scheduled", "--var", "ALLOWED_PRIVATE_HOSTS:127.0.0.1,localhost"], {
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));

function readVars(path) {
  const section = readFileSync(path, "utf8").split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? "";
  return Object.fromEntries([...section.matchAll(/^([A-Z0-9_]+)\s*=\s*"(.*)"\s*$/gm)].map((m) => [m[1], m[2].replace(/\\"/g, '"')]));
}

function readDevVars(path) {
  if (!existsSync(path)) return {};
  return Object.fromEntries([...readFileSync(path, "utf8").matchAll(/^([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/gm)].map((m) => [m[1], m[2]]));
}

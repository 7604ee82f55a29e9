// Fails when the Worker bundle `wrangler deploy` would upload outgrows its budget (bundled locally with
// --dry-run: no credentials, no network). Cloudflare's own limits are 3 MiB gzip (Free) and 10 MiB (Paid); ours is
// tighter so a dependency that balloons the bundle (and every cold start) is noticed in review, not in production.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildDashboard } from "./build-dashboard.mjs";

const BUDGET = { raw: 2 * 1024 * 1024, gzip: 400 * 1024 };
// What a browser downloads before the dashboard's first render (its JavaScript and CSS, gzipped).
const DASHBOARD_BUDGET_GZIP = 250 * 1024;
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
const out = mkdtempSync(join(tmpdir(), "edgeflow-bundle-"));
try {
  // wrangler reads the [assets] directory, so the dashboard is built first.
  await buildDashboard();
  const assets = join("dist", "dashboard", "assets");
  const shipped = readdirSync(assets).reduce((sum, f) => sum + gzipSync(readFileSync(join(assets, f))).byteLength, 0);
  const dashboardLine = `dashboard: ${kib(shipped)} gzip (budget ${kib(DASHBOARD_BUDGET_GZIP)})`;
  if (shipped > DASHBOARD_BUDGET_GZIP) {
    console.error(`${dashboardLine}: over budget.`);
    process.exitCode = 1;
  } else {
    console.log(dashboardLine);
  }
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", out], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const code = readFileSync(join(out, "worker.js"));
  const size = { raw: code.byteLength, gzip: gzipSync(code).byteLength };
  const line = `bundle: ${kib(size.raw)} raw / ${kib(size.gzip)} gzip (budget ${kib(BUDGET.raw)} / ${kib(BUDGET.gzip)})`;
  if (size.raw > BUDGET.raw || size.gzip > BUDGET.gzip) {
    console.error(`${line}: over budget. Find what grew with \`wrangler deploy --dry-run --outdir dist --metafile\`.`);
    process.exitCode = 1;
  } else {
    console.log(line);
  }
} catch (err) {
  console.error(`wrangler deploy --dry-run failed:\n${err.stdout ?? ""}${err.stderr ?? err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}

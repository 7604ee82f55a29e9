// Fails when the Worker bundle `wrangler deploy` would upload outgrows its budget (bundled locally with
// --dry-run: no credentials, no network). Cloudflare's own limits are 3 MiB gzip (Free) and 10 MiB (Paid); ours is
// tighter so a dependency that balloons the bundle (and every cold start) is noticed in review, not in production.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = { raw: 2 * 1024 * 1024, gzip: 400 * 1024 };
const out = mkdtempSync(join(tmpdir(), "edgeflow-bundle-"));
try {
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", out], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const code = readFileSync(join(out, "worker.js"));
  const size = { raw: code.byteLength, gzip: gzipSync(code).byteLength };
  const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
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

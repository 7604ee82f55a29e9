// Build the dashboard (dashboard/ → dist/dashboard, served by wrangler.toml's [assets]), with Scalar's bundle for
// /docs beside it, when their sources changed
// since the last build. npm start, npm test, check:bundle and deploy all call it, so nobody runs a build by hand
// and several test servers starting at once do not rebuild the same files under each other.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname, "..");
const OUT = join(ROOT, "dist", "dashboard");
const STAMP = join(ROOT, "dist", "dashboard.source-hash");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

function sourceHash() {
  const h = createHash("sha256");
  // The dashboard imports the engine's pure event module (status names), so src/engine is part of its sources.
  const sources = [...files(join(ROOT, "dashboard")), ...files(join(ROOT, "src", "engine"))];
  for (const f of [...sources, join(ROOT, "package-lock.json")]) {
    h.update(f.slice(ROOT.length));
    h.update(readFileSync(f));
  }
  return h.digest("hex");
}

export async function buildDashboard({ force = false } = {}) {
  const hash = sourceHash();
  if (!force && existsSync(join(OUT, "index.html")) && existsSync(STAMP) && readFileSync(STAMP, "utf8") === hash)
    return false;
  // Started from a test run, NODE_ENV is "test", and Vite would compile JSX for React's development runtime.
  process.env.NODE_ENV = "production";
  const { build } = await import("vite");
  const tmp = join(ROOT, "dist", `.dashboard-${process.pid}`);
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  await build({
    mode: "production",
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    configFile: join(ROOT, "dashboard", "vite.config.ts"),
    build: { outDir: tmp, emptyOutDir: true },
    logLevel: "warn",
  });
  // The API reference at /docs (Scalar) loads its standalone bundle from here, never from a CDN.
  mkdirSync(join(tmp, "docs-assets"), { recursive: true });
  // Not in the package's exports map: found beside its main entry (dist/index.js → dist/browser/standalone.js).
  const scalar = join(
    dirname(createRequire(import.meta.url).resolve("@scalar/api-reference")),
    "browser",
    "standalone.js",
  );
  copyFileSync(scalar, join(tmp, "docs-assets", "scalar-standalone.js"));
  rmSync(OUT, { recursive: true, force: true });
  try {
    renameSync(tmp, OUT);
  } catch (err) {
    // Another process built the same sources a moment earlier: its output is as good as ours.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(OUT, "index.html"))) throw err;
  }
  writeFileSync(STAMP, hash);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const started = Date.now();
  const built = await buildDashboard({ force: process.argv.includes("--force") });
  console.log(built ? `  dashboard built in ${Date.now() - started} ms` : "  dashboard: up to date");
}

// What the npm scripts need from wrangler.toml and .dev.vars (read as text: wrangler bundles its TOML parser).
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export const PLACEHOLDER_DATABASE_ID = "00000000-0000-0000-0000-000000000000";

/** [vars] of wrangler.toml. */
export function readVars(path = "wrangler.toml") {
  const section =
    readFileSync(path, "utf8")
      .split(/^\[vars\]\s*$/m)[1]
      ?.split(/^\[/m)[0] ?? "";
  return Object.fromEntries(
    [...section.matchAll(/^([A-Z0-9_]+)\s*=\s*"(.*)"\s*$/gm)].map((m) => [m[1], m[2].replace(/\\"/g, '"')]),
  );
}

/** The Cron Triggers of wrangler.toml ([triggers] crons). */
export function readCrons(path = "wrangler.toml") {
  const line = /^crons\s*=\s*\[(.*)\]\s*$/m.exec(readFileSync(path, "utf8"))?.[1] ?? "";
  return [...line.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/** How many history databases (DB_HISTORY_0, DB_HISTORY_1, …) wrangler.toml binds, counted up to the first gap. */
export function readHistoryShardCount(path = "wrangler.toml") {
  const bound = new Set(
    [...readFileSync(path, "utf8").matchAll(/^\s*binding\s*=\s*"DB_HISTORY_(\d+)"/gm)].map((m) => Number(m[1])),
  );
  let n = 0;
  while (bound.has(n)) n++;
  return n;
}

export function readDatabaseId(path = "wrangler.toml") {
  return /^database_id\s*=\s*"([^"]*)"/m.exec(readFileSync(path, "utf8"))?.[1] ?? null;
}

/** The bucket behind the ARTIFACTS binding. */
export function readBucketName(path = "wrangler.toml") {
  return (
    /binding\s*=\s*"ARTIFACTS"\s*\n\s*bucket_name\s*=\s*"([^"]+)"/.exec(readFileSync(path, "utf8"))?.[1] ??
    "edgeflow-artifacts"
  );
}

export function writeDatabaseId(id, path = "wrangler.toml") {
  const text = readFileSync(path, "utf8");
  writeFileSync(path, text.replace(/^database_id\s*=\s*"[^"]*"/m, `database_id = "${id}"`));
}

/** KEY=value lines of .dev.vars (values may be quoted). */
export function readDevVars(path = ".dev.vars") {
  if (!existsSync(path)) return {};
  return Object.fromEntries(
    [...readFileSync(path, "utf8").matchAll(/^([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/gm)].map((m) => [m[1], m[2]]),
  );
}

/** Add `name` to .dev.vars (mode 600) with a fresh random value unless it is there; returns the value. */
export function ensureDevVar(name, make, path = ".dev.vars") {
  const existing = readDevVars(path)[name];
  if (existing) return existing;
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const value = make();
  writeFileSync(path, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${name}="${value}"\n`, { mode: 0o600 });
  return value;
}

// A local stand-in for the parts of Cloudflare's REST API that `npm run deploy` reaches through wrangler
// (CLOUDFLARE_API_BASE_URL points wrangler here): tokens, accounts, D1 (create, list, query), R2 buckets, Worker
// uploads, secrets, subdomains and Cron Triggers. It keeps state like the real one (a database made once is found
// again, a secret put is listed) and answers anything else 404 in Cloudflare's error envelope, so a call the deploy
// path starts making is seen, not silently accepted.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DatabaseSync } from "node:sqlite";

/** One D1 query result per statement, as the API answers them. */
export type D1Results = { results: unknown[]; success: boolean; meta: Record<string, unknown> }[];
/** Runs a D1 query for the fake: against a real local database (the tests) or SQLite in memory (the default). */
export type D1Executor = (sql: string, params: unknown[]) => D1Results | Promise<D1Results>;

export interface FakeCloudflare {
  url: string;
  calls: { method: string; path: string }[];
  state: {
    databases: Map<string, { uuid: string; name: string; query: D1Executor }>;
    buckets: Set<string>;
    scripts: Map<
      string,
      {
        secrets: Map<string, string>;
        crons: string[];
        uploads: number;
        migrationTag: string | null;
        subdomain?: boolean;
        /** Static assets attached by the last upload: path → content. */
        assets?: Map<string, Buffer>;
        /** Their routing and headers (`_headers` travels here, not as a file). */
        assetsConfig?: Record<string, unknown>;
      }
    >;
    /** Asset contents uploaded so far, by hash (kept across deploys, so unchanged files are not asked for again). */
    assetStore: Map<string, Buffer>;
    /** Upload sessions by token: the manifest they were opened with. */
    assetSessions: Map<string, Record<string, { hash: string; size: number }>>;
  };
  close: () => Promise<void>;
}

const ACCOUNT = { id: "acc0000000000000000000000000001", name: "Edgeflow CI" };
const SUBDOMAIN = "edgeflow-ci";

/**
 * `d1`: what runs the queries of every D1 database made here, e.g. a local `npm start`'s own database, so what the
 * deploy writes "remotely" (the smoke test's API key) is what the local Worker then reads; SQLite in memory if unset.
 */
export async function startFakeCloudflare(opts: { d1?: D1Executor } = {}): Promise<FakeCloudflare> {
  const calls: FakeCloudflare["calls"] = [];
  const state: FakeCloudflare["state"] = {
    databases: new Map(),
    buckets: new Set(),
    scripts: new Map(),
    assetStore: new Map(),
    assetSessions: new Map(),
  };
  const server = createServer(async (req, res) => {
    const body = await read(req);
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/^\/client\/v4/, "");
    calls.push({ method: req.method ?? "GET", path });
    try {
      const handled = await route(req.method ?? "GET", path, url, body, state, opts, {
        contentType: req.headers["content-type"] ?? "",
        authorization: req.headers.authorization ?? "",
      });
      if (handled === undefined)
        return send(res, 404, {
          success: false,
          errors: [{ code: 7003, message: `fake Cloudflare API: no route for ${req.method} ${path}` }],
          messages: [],
          result: null,
        });
      send(res, handled.status ?? 200, {
        success: (handled.status ?? 200) < 400,
        errors: handled.errors ?? [],
        messages: [],
        result: handled.result ?? null,
        ...(handled.extra ?? {}),
      });
    } catch (err) {
      send(res, 500, { success: false, errors: [{ code: 10000, message: String(err) }], messages: [], result: null });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    calls,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Answer =
  | { status?: number; result?: unknown; errors?: { code: number; message: string }[]; extra?: Record<string, unknown> }
  | undefined;

async function route(
  method: string,
  path: string,
  url: URL,
  body: Buffer,
  s: FakeCloudflare["state"],
  opts: { d1?: D1Executor },
  { contentType, authorization }: { contentType: string; authorization: string },
): Promise<Answer> {
  const json = () => JSON.parse(body.toString("utf8") || "{}");
  if (method === "GET" && path === "/user/tokens/verify") return { result: { id: "tok", status: "active" } };
  if (method === "GET" && path === "/user") return { result: { email: "ci@edgeflow.test" } };
  if (method === "GET" && (path === "/accounts" || path === "/memberships")) {
    return {
      result: path === "/accounts" ? [ACCOUNT] : [{ account: ACCOUNT }],
      extra: { result_info: { page: 1, per_page: 50, total_pages: 1, count: 1, total_count: 1 } },
    };
  }
  const m = /^\/accounts\/([^/]+)(\/.*)$/.exec(path);
  if (!m || m[1] !== ACCOUNT.id) return undefined;
  const rest = m[2] as string;
  const db = (idOrName: string) =>
    s.databases.get(idOrName) ?? [...s.databases.values()].find((d) => d.name === idOrName);
  const info = (d: { uuid: string; name: string }) => ({
    uuid: d.uuid,
    name: d.name,
    created_at: new Date().toISOString(),
    version: "production",
    num_tables: 0,
    file_size: 0,
  });

  if (rest === "/d1/database" && method === "POST") {
    const { name } = json() as { name: string };
    if (db(name)) return { status: 400, errors: [{ code: 7502, message: "A database with that name already exists" }] };
    const uuid = crypto.randomUUID();
    s.databases.set(uuid, { uuid, name, query: opts.d1 ?? inMemory() });
    return { result: info({ uuid, name }) };
  }
  if (rest === "/d1/database" && method === "GET") {
    const page = Number(url.searchParams.get("page") ?? "1");
    return { result: page > 1 ? [] : [...s.databases.values()].map(info) };
  }
  let d = /^\/d1\/database\/([^/]+)$/.exec(rest);
  if (d && method === "GET") {
    const found = db(decodeURIComponent(d[1] as string));
    return found
      ? { result: info(found) }
      : { status: 404, errors: [{ code: 7404, message: "The database could not be found" }] };
  }
  d = /^\/d1\/database\/([^/]+)\/query$/.exec(rest);
  if (d && method === "POST") {
    const found = db(d[1] as string);
    if (!found) return { status: 404, errors: [{ code: 7404, message: "The database could not be found" }] };
    const { sql, params = [] } = json() as { sql: string; params?: unknown[] };
    try {
      return { result: await found.query(sql, params) };
    } catch (err) {
      return { status: 400, errors: [{ code: 7500, message: err instanceof Error ? err.message : String(err) }] };
    }
  }
  if (rest === "/r2/buckets" && method === "POST") {
    const { name } = json() as { name: string };
    if (s.buckets.has(name))
      return {
        status: 409,
        errors: [{ code: 10004, message: "The bucket you tried to create already exists, and you own it." }],
      };
    s.buckets.add(name);
    return { result: { name, creation_date: new Date().toISOString(), location: "WEUR" } };
  }
  const bucket = /^\/r2\/buckets\/([^/]+)$/.exec(rest);
  if (bucket && method === "GET") {
    return s.buckets.has(bucket[1] as string)
      ? { result: { name: bucket[1], creation_date: new Date().toISOString(), location: "WEUR" } }
      : { status: 404, errors: [{ code: 10006, message: "The specified bucket does not exist." }] };
  }
  // Static assets: a session lists the files by hash and asks only for the ones not stored yet (one bucket), an
  // upload sends them base64 in a multipart form, and the script upload names the session's completion token.
  if (method === "POST" && rest === "/workers/assets/upload") {
    const token = /^Bearer (.+)$/.exec(authorization)?.[1] ?? "";
    const manifest = s.assetSessions.get(token);
    if (!manifest) return { status: 401, errors: [{ code: 10000, message: "unknown asset upload token" }] };
    const form = await new Response(new Uint8Array(body), { headers: { "content-type": contentType } }).formData();
    for (const [hash, value] of form.entries())
      s.assetStore.set(hash, Buffer.from(await (value as File).text(), "base64"));
    const complete = Object.values(manifest).every((f) => s.assetStore.has(f.hash));
    return { result: complete ? { jwt: token } : {} };
  }
  const script = /^\/workers\/scripts\/([^/]+)(\/.*)?$/.exec(rest);
  if (script && script[2] === "/assets-upload-session" && method === "POST") {
    const manifest = json().manifest as Record<string, { hash: string; size: number }>;
    const token = fakeJwt();
    s.assetSessions.set(token, manifest);
    const missing = [...new Set(Object.values(manifest).map((f) => f.hash))].filter((h) => !s.assetStore.has(h));
    return { result: { jwt: token, buckets: missing.length ? [missing] : [] } };
  }
  if (script) {
    const name = script[1] as string;
    const sub = script[2] ?? "";
    const known = s.scripts.get(name);
    if (sub === "/secrets" && method === "GET") {
      return known
        ? { result: [...known.secrets.keys()].map((n) => ({ name: n, type: "secret_text" })) }
        : { status: 404, errors: [{ code: 10007, message: "This Worker does not exist on your account." }] };
    }
    // A first deploy uploads the script; later ones upload a version and deploy it (wrangler's versions flow).
    if ((sub === "" && method === "PUT") || (sub === "/versions" && method === "POST")) {
      const meta = metadataOf(body, contentType);
      const entry = known ?? {
        secrets: new Map<string, string>(),
        crons: [],
        uploads: 0,
        migrationTag: null as string | null,
      };
      // secret_text bindings carry new values; "inherit" ones keep what is set.
      for (const b of (meta.bindings ?? []) as { type: string; name: string; text?: string }[])
        if (b.type === "secret_text") entry.secrets.set(b.name, b.text ?? "");
      if (meta.migrations?.new_tag) entry.migrationTag = meta.migrations.new_tag;
      if (meta.assets) {
        const manifest = s.assetSessions.get(meta.assets.jwt);
        if (!manifest || !Object.values(manifest).every((f) => s.assetStore.has(f.hash)))
          return { status: 400, errors: [{ code: 10021, message: "assets completion token unknown or incomplete" }] };
        entry.assets = new Map(Object.entries(manifest).map(([path, f]) => [path, s.assetStore.get(f.hash) as Buffer]));
        entry.assetsConfig = meta.assets.config ?? {};
      }
      entry.uploads++;
      s.scripts.set(name, entry);
      const version = {
        id: `version-${entry.uploads}`,
        number: entry.uploads,
        metadata: { source: "wrangler" },
        resources: {
          bindings: meta.bindings ?? [],
          script: { etag: `etag-${entry.uploads}`, handlers: ["fetch", "scheduled"] },
        },
      };
      return {
        result:
          sub === ""
            ? {
                id: name,
                etag: `etag-${entry.uploads}`,
                startup_time_ms: 5,
                deployment_id: crypto.randomUUID(),
                has_modules: true,
              }
            : version,
      };
    }
    if (sub.startsWith("/deployments") && method === "POST") {
      return {
        result: {
          id: `deployment-${known?.uploads ?? 0}`,
          source: "wrangler",
          strategy: "percentage",
          ...(json() as object),
          created_on: new Date().toISOString(),
        },
      };
    }
    if (sub === "/script-settings" && method === "PATCH") return { result: json() };
    if (sub === "/deployments" && method === "GET") {
      const versions = known?.uploads ? [{ version_id: `version-${known.uploads}`, percentage: 100 }] : [];
      return {
        result: {
          deployments: versions.length
            ? [
                {
                  id: `deployment-${known?.uploads}`,
                  source: "wrangler",
                  strategy: "percentage",
                  versions,
                  created_on: new Date().toISOString(),
                },
              ]
            : [],
        },
      };
    }
    const version = /^\/versions\/([^/]+)$/.exec(sub);
    if (version && method === "GET") {
      return {
        result: {
          id: version[1],
          number: known?.uploads ?? 0,
          metadata: { source: "wrangler", created_on: new Date().toISOString() },
          resources: { bindings: [], script: { etag: "x", handlers: ["fetch", "scheduled"] }, script_runtime: {} },
        },
      };
    }
    if (sub === "/subdomain" && method === "GET")
      return { result: { enabled: known?.subdomain ?? false, previews_enabled: false } };
    if (sub === "/subdomain" && method === "POST") {
      if (known) known.subdomain = Boolean((json() as { enabled?: boolean }).enabled);
      return { result: { enabled: known?.subdomain ?? false, previews_enabled: false } };
    }
    if (sub === "/schedules" && method === "PUT") {
      const crons = (json() as { cron: string }[]).map((c) => c.cron);
      if (known) known.crons = crons;
      return {
        result: {
          schedules: crons.map((cron) => ({
            cron,
            created_on: new Date().toISOString(),
            modified_on: new Date().toISOString(),
          })),
        },
      };
    }
  }
  const worker = /^\/workers\/workers\/([^/]+)$/.exec(rest);
  if (worker && method === "GET") {
    const known = s.scripts.get(worker[1] as string);
    if (!known)
      return { status: 404, errors: [{ code: 10007, message: "This Worker does not exist on your account." }] };
    return {
      result: {
        id: worker[1],
        name: worker[1],
        subdomain: { enabled: known.subdomain ?? false, previews_enabled: false },
      },
    };
  }
  const service = /^\/workers\/services\/([^/]+)$/.exec(rest);
  if (service && method === "GET") {
    const known = s.scripts.get(service[1] as string);
    if (!known) return { status: 404, errors: [{ code: 10090, message: "workers.api.error.service_not_found" }] };
    return {
      result: {
        id: service[1],
        default_environment: {
          environment: "production",
          script: { id: service[1], migration_tag: known.migrationTag },
        },
      },
    };
  }
  if (rest === "/workers/subdomain" && method === "GET") return { result: { subdomain: SUBDOMAIN } };
  return undefined;
}

/** A D1 database as SQLite in memory. */
function inMemory(): D1Executor {
  const db = new DatabaseSync(":memory:");
  return (sql, params) => statements(sql).map((q, i) => run(db, q, i === 0 ? params : []));
}

/** One D1 query result per statement, as the API answers: rows, success and meta. */
function run(db: DatabaseSync, sql: string, params: unknown[]) {
  const started = performance.now();
  const stmt = db.prepare(sql);
  const reads = /^\s*(select|with|pragma)\b/i.test(sql) || /\breturning\b/i.test(sql);
  const results = reads ? stmt.all(...(params as never[])) : (stmt.run(...(params as never[])), []);
  return {
    results,
    success: true,
    meta: {
      duration: performance.now() - started,
      changes: 0,
      rows_read: results.length,
      rows_written: 0,
      served_by: "fake",
    },
  };
}

/** Split a script into statements at semicolons that end a line (quoted text in our SQL never does). */
function statements(sql: string): string[] {
  return sql
    .replace(/--[^\n']*$/gm, "")
    .split(/;\s*(?:\n|$)/)
    .map((q) => q.trim())
    .filter(Boolean);
}

/** The `metadata` part of a Worker upload (multipart/form-data): bindings, migrations, compatibility settings. */
/** wrangler reads the expiry of the token it is given, so it must look like a JWT. */
function fakeJwt(): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const sig = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
  return `${part({ alg: "none" })}.${part({ exp: Math.floor(Date.now() / 1000) + 3600 })}.${sig}`;
}

function metadataOf(
  body: Buffer,
  contentType: string,
): {
  bindings?: unknown[];
  migrations?: { new_tag?: string };
  assets?: { jwt: string; config?: Record<string, unknown> };
} {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) return {};
  for (const part of body.toString("utf8").split(`--${boundary}`)) {
    if (!/name="metadata"/.test(part)) continue;
    const json = part.slice(part.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, "");
    return JSON.parse(json) as { bindings?: unknown[] };
  }
  return {};
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(payload));
}

async function read(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const FAKE_ACCOUNT_ID = ACCOUNT.id;
export const FAKE_SUBDOMAIN = SUBDOMAIN;

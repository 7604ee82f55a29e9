// A real HTTP server on loopback that http nodes call in tests: echo, slow, flaky, fixed status, hanging,
// and a side-effect endpoint that dedupes by Idempotency-Key the way a well-behaved API does.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo } from "node:net";
import { listenOnLoopback } from "./listen";
import { mailTo } from "./mailbox";
import { oauthSite } from "./oauth-site";
import { forumSite } from "./forum-site";
import { Webhook } from "standardwebhooks";

interface Call {
  at: number;
  method: string;
  path: string;
  idempotency_key: string | null;
  /** The Edgeflow-Attempt header: which attempt of the node (or map item) made the call. */
  attempt: string | null;
  traceparent: string | null;
  started_at: number;
  finished_at?: number;
}

export async function startTargetServer(): Promise<{ url: string; close: () => Promise<void>; gates: () => string[] }> {
  // Reliability gate figures reported by the suites, printed once the whole run is over.
  const gates: string[] = [];
  // The SSRF trap: a TCP listener on every local address (IPv4 and IPv6) of one port. Refused targets aim at it, so
  // any connection the guard let through is counted.
  let trapped = 0;
  const trap = createTcpServer((socket) => {
    trapped++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, "::", resolve));
  const trapPort = (trap.address() as AddressInfo).port;
  const calls = new Map<string, Call[]>();
  const effects = new Map<string, Map<string, unknown>>();
  // Webhook receivers: the test registers a secret; deliveries are verified with the standardwebhooks package.
  const hookSecrets = new Map<string, string>();
  const hookFailures = new Map<string, number>();
  // A tiny catalog and an order service that dedupes by Idempotency-Key (as a well-behaved API does).
  const outlets: Record<string, { id: string; name: string }> = {
    "o-1": { id: "o-1", name: "Harbour Street" },
    "o-2": { id: "o-2", name: "Market Square" },
  };
  const orders = new Map<string, Map<string, { id: string; body: unknown }>>();
  // Posts on a forum that removes them the way Reddit does: the page still answers 200, the content says removed.
  const removed = new Set<string>();
  const published = new Map<string, { title: string; body: string }>();
  const repos = new Map<string, Map<string, string>>();
  // Code review: changes put by a test, and the reviews posted on them (deduped by Idempotency-Key).
  const changes = new Map<string, unknown>();
  const reviews = new Map<string, Map<string, { id: string; body: unknown }>>();
  const deliveries = new Map<
    string,
    { at: number; verified: boolean; error: string | null; headers: Record<string, unknown>; body: unknown }[]
  >();

  const record = (key: string, req: IncomingMessage): Call => {
    const call: Call = {
      at: Date.now(),
      method: req.method ?? "GET",
      path: req.url ?? "",
      idempotency_key: header(req, "idempotency-key"),
      attempt: header(req, "edgeflow-attempt"),
      traceparent: header(req, "traceparent"),
      started_at: Date.now(),
    };
    calls.set(key, [...(calls.get(key) ?? []), call]);
    return call;
  };

  const startedAt = Date.now();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const body = await readBody(req);
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const q = (name: string) => url.searchParams.get(name);
    if (parts[0] === "oauth" && (await oauthSite(req, url, body, (status, b, h) => json(res, status, b, h)))) return;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (parts[0] === "forum" && forumSite(req, url, body, base, (status, b, h) => json(res, status, b, h))) return;
    switch (parts[0]) {
      // GET /mail?to=ADDR[&since=MS]: what miniflare's send_email binding accepted for ADDR (test/support/mailbox.ts).
      case "mail":
        return json(res, 200, mailTo(q("to") ?? "", Number(q("since") ?? startedAt)));
      case "echo":
        return json(res, 200, {
          method: req.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body: parseMaybe(body),
        });
      case "slow": {
        const call = record(parts[1] ?? "slow", req);
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "200")));
        call.finished_at = Date.now();
        return json(res, 200, { key: parts[1], started_at: call.started_at, finished_at: call.finished_at });
      }
      case "flaky": {
        const key = parts[1] ?? "flaky";
        const n = record(key, req) && (calls.get(key)?.length ?? 0);
        if (n <= Number(q("fail") ?? "1")) {
          const headers: Record<string, string> = q("retry_after") ? { "retry-after": q("retry_after") as string } : {};
          return json(res, Number(q("status") ?? "503"), { error: "flaky", call: n }, headers);
        }
        return json(res, 200, { ok: true, calls: n });
      }
      case "posts": {
        // GET /posts/:id.json — a Reddit-shaped listing; POST /posts/:id/remove — a moderator removes it.
        const id = (parts[1] ?? "").replace(/\.json$/, "");
        record(`posts-${id}`, req);
        if (req.method === "POST" && parts[2] === "remove") {
          removed.add(id);
          return json(res, 204, null);
        }
        const gone = removed.has(id);
        const mine = published.get(id);
        const post = {
          id,
          title: mine?.title ?? `Post ${id}`,
          selftext: gone ? "[removed]" : (mine?.body ?? "Launch notes for the spring sale"),
          removed_by_category: gone ? "moderator" : null,
        };
        return json(res, 200, { kind: "Listing", data: { children: [{ kind: "t3", data: post }] } });
      }
      case "big": {
        // GET /big/:kib — a JSON body of about that many KiB: {items: [{i, text}, ...]}.
        const items = Array.from({ length: Math.ceil((Number(parts[1] ?? "1") * 1024) / 100) }, (_, i) => ({
          i,
          text: "x".repeat(80),
        }));
        return json(res, 200, { items });
      }
      case "page": {
        // GET /page/:key — a forum page that refuses clients without a User-Agent (403, as Reddit does), writes its
        // title HTML-escaped over two lines, and answers 404 once POST /page/:key/remove took it down.
        const id = parts[1] ?? "";
        if (req.method === "POST" && parts[2] === "remove") {
          removed.add(`page-${id}`);
          return json(res, 204, null);
        }
        record(`page-${id}`, req);
        if (!/^edgeflow-monitor\//.test(header(req, "user-agent") ?? ""))
          return json(res, 403, { error: "blocked: send a User-Agent that names your client" });
        if (removed.has(`page-${id}`)) return json(res, 404, { error: "not found" });
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(`<html><h1>Tom &amp; Jerry&#39;s\n   spring launch</h1><p>Posted&nbsp;today</p></html>`);
      }
      case "status":
        record(parts[2] ?? `status-${parts[1]}`, req);
        return json(res, Number(parts[1]), { status: Number(parts[1]) });
      case "hang":
        record(parts[1] ?? "hang", req);
        return; // never answers; the client's timeout must end the attempt
      case "side-effect": {
        const key = parts[1] ?? "effect";
        const idem = header(req, "idempotency-key") ?? "";
        record(key, req);
        const done = effects.get(key) ?? new Map<string, unknown>();
        effects.set(key, done);
        if (!done.has(idem)) done.set(idem, { effect: done.size + 1, body: parseMaybe(body) });
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "0")));
        return json(res, 200, done.get(idem));
      }
      case "_hooks": {
        const key = parts[1] ?? "";
        if (req.method === "POST") {
          const cfg = JSON.parse(body) as { secret: string; fail?: number };
          hookSecrets.set(key, cfg.secret);
          hookFailures.set(key, cfg.fail ?? 0);
          return json(res, 204, null);
        }
        return json(res, 200, { deliveries: deliveries.get(key) ?? [] });
      }
      case "hooks": {
        const key = parts[1] ?? "";
        let verified = false;
        let error: string | null = null;
        try {
          new Webhook(hookSecrets.get(key) ?? "").verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch (err) {
          error = String(err);
        }
        deliveries.set(key, [
          ...(deliveries.get(key) ?? []),
          { at: Date.now(), verified, error, headers: req.headers, body: parseMaybe(body) },
        ]);
        const left = hookFailures.get(key) ?? 0;
        if (left > 0) {
          hookFailures.set(key, left - 1);
          return json(res, 503, { error: "receiver down" });
        }
        return json(res, verified ? 200 : 401, { verified });
      }
      case "catalog":
        // GET /catalog — what can be ordered.
        record("catalog", req);
        return json(res, 200, {
          items: [
            { sku: "flat-white", name: "Flat white", price: 3.2 },
            { sku: "latte", name: "Latte", price: 3.5 },
            { sku: "croissant", name: "Croissant", price: 2.4 },
            { sku: "PB-10", name: "Pizza box 10 inch", price: 0.42 },
            { sku: "PB-12", name: "Pizza box 12 inch", price: 0.55 },
            { sku: "CUP-12", name: "Coffee cup 12 oz", price: 0.12 },
            { sku: "LID-12", name: "Lid for 12 oz coffee cup", price: 0.05 },
          ],
        });
      case "outlets": {
        record(`outlets-${parts[1]}`, req);
        const outlet = outlets[decodeURIComponent(parts[1] ?? "")];
        return outlet ? json(res, 200, outlet) : json(res, 404, { error: "no such outlet" });
      }
      case "orders": {
        // POST /orders/:bucket?delay_first=ms — records the order, then (first time only) answers late.
        // GET /orders/:bucket/:id — the order and where it is, or 404 (an order-status service).
        const bucket = parts[1] ?? "orders";
        if (req.method === "GET" && parts[2]) {
          record(`order-status-${bucket}`, req);
          const found = [...(orders.get(bucket)?.values() ?? [])].find((o) => o.id === parts[2]);
          return found
            ? json(res, 200, { id: found.id, status: "shipped", eta: "2026-12-08", items: found.body })
            : json(res, 404, { error: `no order ${parts[2]}` });
        }
        const idem = header(req, "idempotency-key");
        if (!idem) return json(res, 400, { error: "Idempotency-Key required" });
        record(`orders-${bucket}`, req);
        const book = orders.get(bucket) ?? new Map<string, { id: string; body: unknown }>();
        orders.set(bucket, book);
        const isNew = !book.has(idem);
        if (isNew) book.set(idem, { id: `ord-${book.size + 1}`, body: parseMaybe(body) });
        if (isNew && q("delay_first")) await new Promise((r) => setTimeout(r, Number(q("delay_first"))));
        return json(res, isNew ? 201 : 200, book.get(idem));
      }
      case "_orders":
        return json(res, 200, { orders: [...(orders.get(parts[1] ?? "")?.values() ?? [])] });
      case "publish":
        // POST /publish/:bucket → where the post now lives (a URL the monitor will check). ?as=post publishes it on
        // the forum below (/posts/:bucket.json), which a moderator can then remove.
        record(`publish-${parts[1]}`, req);
        if (q("as") === "post") {
          published.set(parts[1] ?? "", parseMaybe(body) as { title: string; body: string });
          const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
          return json(res, 201, { url: `${base}/posts/${parts[1]}.json` });
        }
        return json(res, 201, {
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/status/${q("live_status") ?? "200"}/live-${parts[1]}`,
          post: parseMaybe(body),
        });
      case "repo": {
        // A repository service: GET /repo/:bucket/files?path=P (the file), POST /repo/:bucket/files/apply
        // {file_path, patch} (slow on purpose, so overlapping runs on one file would show), POST
        // /repo/:bucket/files/verify {file_path} (a type check: fails when an applied patch says BROKEN), POST
        // /repo/:bucket/files/revert {file_path, patch}.
        // /repo/:bucket/changes/:id: PUT (by a test) and GET a change {id, title, files: [{path, patch}]};
        // POST …/reviews posts a review once per Idempotency-Key, GET …/reviews lists them.
        if (parts[2] === "changes") {
          const id = `${parts[1]}/${parts[3]}`;
          if (parts[4] === "reviews") {
            const posted = reviews.get(id) ?? new Map<string, { id: string; body: unknown }>();
            reviews.set(id, posted);
            if (req.method === "GET") return json(res, 200, { reviews: [...posted.values()] });
            record(`reviews-${id}`, req);
            const idem = header(req, "idempotency-key") ?? "";
            if (!posted.has(idem)) posted.set(idem, { id: `rev-${posted.size + 1}`, body: parseMaybe(body) });
            return json(res, 201, posted.get(idem));
          }
          if (req.method === "PUT") {
            changes.set(id, parseMaybe(body));
            return json(res, 204, null);
          }
          const change = changes.get(id);
          return change ? json(res, 200, change) : json(res, 404, { error: `no change ${parts[3]}` });
        }
        const files = repos.get(parts[1] ?? "") ?? new Map<string, string>();
        repos.set(parts[1] ?? "", files);
        if (req.method === "GET") {
          const path = q("path") ?? "?";
          return json(res, 200, { path, content: files.get(path) ?? `export const answer = 41;\n` });
        }
        const file = (parseMaybe(body) as { file_path?: string })?.file_path ?? "?";
        if (parts[3] === "verify") {
          record(`verify-${parts[1]}-${file}`, req);
          const broken = (files.get(file) ?? "").includes("BROKEN");
          return json(res, 200, {
            ok: !broken,
            output: broken ? `${file}(2,1): error TS1005: ';' expected.` : "tsc: 0 errors",
          });
        }
        const patch = (parseMaybe(body) as { patch?: string })?.patch ?? "";
        if (parts[3] === "revert") {
          // Takes the patch's change out again; reverting one that is not applied changes nothing (it is idempotent).
          record(`revert-${parts[1]}-${file}`, req);
          files.set(file, (files.get(file) ?? "export const answer = 41;\n").replace(`// applied: ${patch}\n`, ""));
          return json(res, 200, { file_path: file, reverted: patch });
        }
        const call = record(`repo-${parts[1]}-${file}`, req);
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "250")));
        files.set(file, `${files.get(file) ?? "export const answer = 41;\n"}// applied: ${patch}\n`);
        call.finished_at = Date.now();
        // ?fail_after=STATUS: the change is made, then the answer is an error (a service that commits, then fails).
        if (q("fail_after")) return json(res, Number(q("fail_after")), { error: "internal error after commit" });
        return json(res, 200, { file_path: file, started_at: call.started_at, finished_at: call.finished_at });
      }
      case "runner": {
        // POST /runner/:bucket/run {files: [{path, content}]}: a CI runner. It writes the files to a fresh folder and
        // runs each *.test.js / *.test.mjs with `node --test`, answering per test file what passed and failed.
        record(`runner-${parts[1]}`, req);
        const files = ((parseMaybe(body) as { files?: { path: string; content: string }[] })?.files ?? []).filter(
          (f) => typeof f?.path === "string" && !f.path.split("/").includes("..") && !f.path.startsWith("/"),
        );
        return json(res, 200, await runTests(files));
      }
      case "redirect":
        // GET /redirect?to=URL&status=302 — a hop the http node must re-check before following.
        record(`redirect-${q("key") ?? ""}`, req);
        res.writeHead(Number(q("status") ?? "302"), { location: q("to") ?? "/" });
        res.end();
        return;
      case "attempt": {
        // POST /attempt/:key?fail=N&status=S&ms=M — a side effect deduped by Idempotency-Key whose answer depends
        // only on the attempt number (the Edgeflow-Attempt header): attempts up to N fail with S. A re-run of the
        // same attempt therefore gets the same answer, as it would from a deterministic service.
        const key = parts[1] ?? "attempt";
        const idem = header(req, "idempotency-key") ?? "";
        const call = record(key, req);
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "0")));
        call.finished_at = Date.now();
        const attempt = Number(header(req, "edgeflow-attempt"));
        if (attempt <= Number(q("fail") ?? "0"))
          return json(res, Number(q("status") ?? "503"), { error: "planned failure", attempt });
        const done = effects.get(key) ?? new Map<string, unknown>();
        effects.set(key, done);
        if (!done.has(idem)) done.set(idem, { effect: done.size + 1, body: parseMaybe(body) });
        return json(res, 200, done.get(idem));
      }
      case "_trap":
        return json(res, 200, { port: trapPort, connections: trapped });
      case "_gates":
        gates.push(String((parseMaybe(body) as { line?: string })?.line ?? ""));
        return json(res, 204, null);
      case "_calls":
        return json(res, 200, {
          calls: calls.get(parts[1] ?? "") ?? [],
          effects: Object.fromEntries(effects.get(parts[1] ?? "") ?? []),
        });
      default:
        return json(res, 404, { error: "no such endpoint" });
    }
  });
  const listening = await listenOnLoopback(server);
  return {
    ...listening,
    close: () => new Promise<void>((r) => trap.close(() => r())).then(listening.close),
    gates: () => gates,
  };
}

function header(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === "string" ? v : null;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, headers);
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function parseMaybe(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Run the test files among `files` with `node --test`, one process per file, in a folder holding all of them. */
async function runTests(files: { path: string; content: string }[]) {
  const dir = mkdtempSync(join(tmpdir(), "edgeflow-runner-"));
  try {
    for (const f of files) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.content);
    }
    const tests = files.map((f) => f.path).filter((p) => /\.test\.m?js$/.test(p));
    const results = [];
    for (const path of tests) {
      const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
        execFile(process.execPath, ["--test", "--test-reporter=tap", path], { cwd: dir, timeout: 20_000 }, (err, out) =>
          resolve({ stdout: String(out), code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
        );
      });
      const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, "m").exec(stdout)?.[1] ?? 0);
      results.push({
        path,
        passed: count("pass"),
        failed: count("fail"),
        exit_code: code,
        output: stdout.slice(-2000),
      });
    }
    const passed = results.reduce((s, r) => s + r.passed, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    return { passed, failed, files: results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

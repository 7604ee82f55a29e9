// Runs the real `npm start` (the Worker in local workerd + the local cron driver) and uses it the way the README says.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeCloudflare, type D1Results } from "../support/cloudflare-api";
import { callLocal, copyOfRepo, startLocal, type LocalServer } from "../support/local-server";
import { startTargetServer } from "../support/target-server";

const run = promisify(execFile);
let local: LocalServer;
let target: Awaited<ReturnType<typeof startTargetServer>>;

const api = (method: string, path: string, body?: unknown, key?: string) => callLocal(local, method, path, body, key);

async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false>,
): Promise<T> {
  for (const end = Date.now() + timeoutMs; ;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}\n${local.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Every process under `root`, from /proc. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x)))
    try {
      parent.set(Number(p), Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]?.split(" ")[1]));
    } catch {
      // ended meanwhile
    }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 1 && hops < 30; p = parent.get(p), hops++)
      if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter(under);
}

beforeAll(async () => {
  [local, target] = await Promise.all([startLocal(), startTargetServer()]);
});

afterAll(async () => {
  await Promise.all([local?.stop(), target?.close()]);
});

describe("npm start", () => {
  it("fires the Cron Trigger by itself: a * * * * * schedule starts a run and a monitor is checked within 70 s", async () => {
    const wf = await api("POST", "/v1/workflows", {
      name: "every-minute",
      nodes: [{ id: "a", kind: "transform", config: { expression: "'tick'" } }],
    });
    expect(wf.status).toBe(201);
    const schedule = await api("POST", `/v1/workflows/${wf.body.id}/schedules`, { cron: "* * * * *" });
    expect(schedule.status).toBe(201);
    const monitor = await api("POST", "/v1/monitors", {
      name: "local",
      check: { kind: "http", url: `${target.url}/status/200/local-monitor`, timeout_ms: 2000 },
      interval_seconds: 60,
      alert: { webhook_url: `${target.url}/hooks/local` },
    });
    expect(monitor.status).toBe(201);
    const created = Date.now();

    const started = await eventually("the schedule's first run", 70_000, async () =>
      (await api("GET", `/v1/schedules/${schedule.body.id}/runs`)).body.data.find(
        (r: { status: string }) => r.status === "started",
      ),
    );
    const checked = await eventually(
      "the monitor's first check",
      70_000,
      async () => (await api("GET", `/v1/monitors/${monitor.body.id}/checks`)).body.data[0],
    );
    expect(Date.now() - created).toBeLessThan(75_000);
    expect(checked.ok).toBe(true);
    const run = await eventually("the scheduled run to finish", 10_000, async () => {
      const ex = await api("GET", `/v1/executions/${started.execution_id}`);
      return ex.body.status === "succeeded" && ex.body;
    });
    expect(run.output).toEqual({ a: "tick" });
    // The tick the driver fired is the one /health reports, with the minute as its time.
    const health = await api("GET", "/health");
    expect(health.status).toBe(200);
    expect(health.body.checks.cron.ok).toBe(true);
    expect(Date.parse(health.body.checks.cron.last_tick_at) % 60_000).toBe(0);
    expect(health.body.checks.cron.age_s).toBeLessThan(65);
  }, 120_000);

  it("streams every event to a standard EventSource client as an unnamed message, and resumes it by Last-Event-ID", async () => {
    // A named SSE event (`event: node.started`) never reaches `onmessage`: the monitoring post-mortem's bug. A standard
    // client, not this repository's own parser, is the judge.
    const wf = (
      await api("POST", "/v1/workflows", {
        name: "sse",
        nodes: [
          { id: "a", kind: "transform", config: { expression: "1" } },
          { id: "w", kind: "wait_for_event", needs: ["a"], config: { event: "go" } },
          { id: "b", kind: "transform", needs: ["w"], config: { expression: "2" } },
        ],
      })
    ).body.id;
    const id = (await api("POST", `/v1/workflows/${wf}/executions`, { input: {} })).body.id as string;
    const ticket = async () => (await api("POST", "/v1/stream-tickets", { execution_id: id })).body.ticket as string;
    const listen = (url: string, until: (type: string) => boolean, lastEventId?: number) =>
      new Promise<{ types: string[]; seqs: number[]; named: string[] }>((resolve, reject) => {
        // The header EventSource sends on its own reconnects, sent here on the first connect.
        const source = new EventSource(url, {
          fetch: (input, init) =>
            fetch(input, {
              ...init,
              headers: {
                ...init.headers,
                ...(lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) }),
              },
            }),
        });
        const got = { types: [] as string[], seqs: [] as number[], named: [] as string[] };
        for (const name of ["node.started", "node.succeeded", "execution.succeeded", "execution.started"])
          source.addEventListener(name, () => got.named.push(name));
        source.onmessage = (m) => {
          const e = JSON.parse(m.data) as { type: string; seq: number };
          expect(m.lastEventId).toBe(String(e.seq));
          got.types.push(e.type);
          got.seqs.push(e.seq);
          if (until(e.type)) {
            source.close();
            resolve(got);
          }
        };
        source.onerror = () => {
          if (source.readyState === EventSource.CLOSED) reject(new Error("the stream closed"));
        };
        setTimeout(() => (source.close(), reject(new Error(`no end: ${got.types.join(", ")}`))), 30_000);
      });
    const first = await listen(
      `${local.base}/v1/executions/${id}/stream?ticket=${await ticket()}`,
      (t) => t === "node.waiting",
    );
    expect(first.named).toEqual([]);
    expect(first.types).toContain("node.succeeded");
    await api("POST", `/v1/executions/${id}/events`, { name: "go", payload: 1 });
    // Resumed after the last seq seen, as EventSource does on reconnect: the rest, nothing twice.
    const last = first.seqs.at(-1) as number;
    const rest = await listen(
      `${local.base}/v1/executions/${id}/stream?ticket=${await ticket()}`,
      (t) => t === "execution.succeeded",
      last,
    );
    expect(rest.named).toEqual([]);
    expect(Math.min(...rest.seqs)).toBe(last + 1);
    expect(rest.types.at(-1)).toBe("execution.succeeded");
  });

  it("prints a METRICS_TOKEN that reads /metrics, and collapses migrations to one line each", async () => {
    const token = /Bearer (mt_[\w-]+)" \S+\/metrics/.exec(local.output())?.[1];
    expect(token).toBeTruthy();
    const res = await fetch(`${local.base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("edgeflow_http_requests_total");
    expect(local.output()).toMatch(/D1 migration applied: 0000_init\.sql\n/);
    expect(local.output()).not.toContain("│ 0000_init.sql");
    // The banner comes after wrangler's start-up lines.
    expect(local.output().indexOf("dev tenant API key")).toBeGreaterThan(local.output().indexOf("Ready on"));
    // No call out for Cloudflare's `Request.cf` object, and so no stack trace where there is no network.
    expect(local.output()).not.toContain("Request.cf");
  });

  it("runs without wrangler's local explorer (scripts/lib/dev-env.mjs): the path falls through to the dashboard", async () => {
    // With X_LOCAL_EXPLORER on, wrangler answers this path with its own explorer page before the Worker sees it.
    const res = await fetch(`${local.base}/cdn-cgi/local/explorer`);
    expect(await res.text()).toContain("<title>Edgeflow</title>");
  });

  it("serves without a DevTools inspector (scripts/lib/dev-server.mjs) and still prints the Worker's log lines", async () => {
    const id = `req-log-check-${Date.now()}`;
    const res = await fetch(`${local.base}/v1/workflows`, { headers: { "x-request-id": id } });
    expect([res.status, res.headers.get("x-request-id")]).toEqual([401, id]);
    await eventually("the request's log line", 10_000, async () =>
      local.output().includes(`"msg":"request","request_id":"${id}"`),
    );
    // And an execution's state changes, one line each, as it makes them.
    const wf = (
      await api("POST", "/v1/workflows", {
        name: "logged",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const run = await api("POST", `/v1/workflows/${wf}/executions`, { input: {} });
    expect(run.status).toBe(201);
    for (const type of ["execution.started", "execution.succeeded"])
      await eventually(`the run's ${type} line`, 10_000, async () =>
        local.output().includes(`"msg":"${type}","execution_id":"${run.body.id}"`),
      );
    // workerd runs with --inspector-addr when one is attached (the `wrangler dev` CLI always attaches one).
    const workerd = descendants(local.pid)
      .map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"))
      .filter((argv) => /workerd$/.test(argv[0] ?? ""));
    expect(workerd.length).toBeGreaterThan(0);
    for (const argv of workerd) expect(argv.join(" ")).not.toContain("--inspector-addr");
  });

  it("passes the smoke test the README gives for any deployment", async () => {
    const { stdout } = await run("npm", ["run", "-s", "smoke", "--", local.base, local.key], { timeout: 90_000 });
    expect(stdout).toMatch(
      /^smoke ok: .* healthy .*; models: no LLM tier configured; ex_\S+ succeeded; SSE \d+ and WebSocket \d+ events, gap-free; cleaned up/,
    );
    const bad = await run("npm", ["run", "-s", "smoke", "--", local.base, "ef_000000000000_nope"]).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("smoke FAILED at models: POST /v1/models/test answered 401");
  }, 120_000);

  it("manages keys with every command the README shows", async () => {
    const keys = (...args: string[]) =>
      run("npm", ["run", "-s", "keys", "--", ...args], {
        env: { ...process.env, EDGEFLOW_PERSIST_TO: local.state },
      }).catch((e) => e);
    const plain = await keys("create", "acme");
    expect(plain.stdout).toMatch(
      /tenant:  ten_acme\nkey id:  key_[0-9a-f-]{36}\nname:    default\nscopes:  read,write\nrate:    default \(RATE_LIMIT_PER_MINUTE\)\napi key: ef_/,
    );
    const limited = await keys("create", "acme", "--name", "ci reader", "--scopes", "read");
    expect(limited.stdout).toContain("scopes:  read\n");
    const token = /api key: (\S+)/.exec(limited.stdout)?.[1] as string;
    const keyId = /key id:  (\S+)/.exec(limited.stdout)?.[1] as string;
    expect((await api("GET", "/v1/workflows", undefined, token)).status).toBe(200);
    expect(
      (
        await api(
          "POST",
          "/v1/workflows",
          { name: "x", nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }] },
          token,
        )
      ).status,
    ).toBe(403);

    const listed = await keys("list", "acme");
    expect(listed.stdout).toMatch(/^id +tenant +name +scopes +rate +created +last used +status/);
    expect(listed.stdout).toMatch(new RegExp(`${keyId} +ten_acme +ci reader +read +default +\\S+Z +\\S+Z +active`));
    expect(listed.stdout).not.toContain(token.slice(16));
    expect((await keys("list")).stdout).toContain("ten_dev");

    expect((await keys("revoke", keyId)).stdout).toMatch(new RegExp(`^revoked ${keyId} \\(at `));
    expect((await api("GET", "/v1/workflows", undefined, token)).status).toBe(401);
    expect((await keys("list", "acme")).stdout).toMatch(new RegExp(`${keyId} .* revoked \\S+Z`));

    // A key's own rate limit: two requests a minute, so the third is refused with the wait; back to the default.
    const slow = await keys("create", "acme", "--name", "slow", "--rate", "2");
    expect(slow.stdout).toContain("rate:    2 requests a minute\n");
    const slowToken = /api key: (\S+)/.exec(slow.stdout)?.[1] as string;
    const slowId = /key id:  (\S+)/.exec(slow.stdout)?.[1] as string;
    const first = await api("GET", "/v1/workflows", undefined, slowToken);
    const second = await api("GET", "/v1/workflows", undefined, slowToken);
    const third = await api("GET", "/v1/workflows", undefined, slowToken);
    expect([first.status, second.status, third.status]).toEqual([200, 200, 429]);
    expect(third.body).toMatchObject({ code: "rate_limited", detail: expect.stringContaining("2 requests a minute") });
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await keys("list", "acme")).stdout).toMatch(new RegExp(`${slowId} +ten_acme +slow +read,write +2/min +`));
    expect((await keys("rate", slowId, "default")).stdout).toBe(
      `${slowId}: default (RATE_LIMIT_PER_MINUTE) (from its next request)\n`,
    );
    expect((await keys("list", "acme")).stdout).toMatch(new RegExp(`${slowId} .* read,write +default +`));
    expect((await keys("rate", slowId, "0")).stderr).toContain("rate must be a whole number of requests a minute");
    expect((await keys("create", "acme", "--rate", "fast")).stderr).toContain("rate must be a whole number");
    expect((await keys("rate", "key_00000000-0000-0000-0000-000000000000", "5")).stderr).toContain(
      "no API key with id",
    );

    expect((await keys("weight", "acme", "3")).stdout).toBe("tenant ten_acme: weight 3 (applies within a minute)\n");
    expect((await keys("weight", "acme", "0")).stderr).toContain("weight must be a whole number from 1 to 100");
    expect((await keys("weight", "nobody", "2")).stderr).toContain("no tenant nobody");

    for (const args of [
      ["create"],
      ["revoke"],
      ["rate", slowId],
      ["weight", "acme"],
      ["frobnicate"],
      ["create", "acme", "--bogus"],
    ]) {
      const wrong = await keys(...args);
      expect(wrong.code, args.join(" ")).toBe(2);
      expect(wrong.stderr).toContain("usage: npm run keys -- create <tenant>");
    }
    const unknown = await keys("revoke", "key_00000000-0000-0000-0000-000000000000");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no API key with id");
  }, 120_000);

  it("deploys with npm run deploy through wrangler, step by step, then smoke-tests the deployment", async () => {
    // Cloudflare's API is a local stand-in (CLOUDFLARE_API_BASE_URL); its D1 runs on this npm start's database, so
    // the deployment the smoke test reaches (--url) reads what the deploy wrote "remotely".
    // The stand-in's D1 is npm start's own SQLite file, which npm start (its cron tick every minute) writes too: a
    // statement that meets the other writer's lock is tried again, as D1 itself never makes a caller see that lock.
    const d1 = async (sql: string, params: unknown[]): Promise<D1Results> => {
      if (params.length) throw new Error("the test's D1 takes no bound parameters");
      for (let attempt = 1; ; attempt++) {
        try {
          const { stdout } = await run(
            "wrangler",
            ["d1", "execute", "DB", "--local", "--persist-to", local.state, "--json", "--command", sql],
            { env: { ...process.env, CI: "true" } },
          );
          return JSON.parse(stdout) as D1Results;
        } catch (err) {
          const said = `${(err as { stdout?: string }).stdout ?? ""} ${(err as { stderr?: string }).stderr ?? ""}`;
          if (attempt >= 5 || !/SQLITE_BUSY|database is locked/i.test(said)) throw err;
          await new Promise((r) => setTimeout(r, 200 * attempt));
        }
      }
    };
    const cf = await startFakeCloudflare({ d1 });
    const repo = copyOfRepo();
    try {
      const env = {
        ...process.env,
        CLOUDFLARE_API_BASE_URL: cf.url,
        CLOUDFLARE_API_TOKEN: "ci-token",
        CLOUDFLARE_ACCOUNT_ID: "acc0000000000000000000000000001",
      };
      const deploy = (...args: string[]) =>
        run("npm", ["run", "-s", "deploy", "--", "--url", local.base, ...args], {
          cwd: repo,
          env,
          timeout: 180_000,
        }).catch((e) => e);

      // No secrets anywhere: it stops before uploading anything, having made the database and written its id.
      const refused = await deploy();
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        "deploy stopped at (d) required secrets: missing secret(s) SECRETS_KEY, METRICS_TOKEN",
      );
      expect(cf.calls.some((c) => c.method === "PUT" && c.path.endsWith("/workers/scripts/edgeflow"))).toBe(false);
      const id = [...cf.state.databases.values()][0]?.uuid as string;
      expect(readFileSync(join(repo, "wrangler.toml"), "utf8")).toContain(`database_id = "${id}"`);

      writeFileSync(
        join(repo, ".prod.vars"),
        "SECRETS_KEY=c2VjcmV0cy1rZXktZm9yLWNpLWRlcGxveS0zMmJ5dGVz\nMETRICS_TOKEN=mt_ci\n",
      );
      const first = await deploy("--secrets-file", ".prod.vars");
      expect(first.stderr ?? "").toBe("");
      expect(first.stdout).toContain(`D1 database id from wrangler.toml: ${id}`);
      expect(first.stdout).toContain("R2 bucket edgeflow-artifacts: exists");
      expect(first.stdout).toContain("secrets present: SECRETS_KEY, METRICS_TOKEN");
      expect(first.stdout).toMatch(/deployed to https:\/\/edgeflow\.edgeflow-ci\.workers\.dev/);
      expect(first.stdout).toMatch(/smoke ok: .* succeeded; SSE \d+ and WebSocket \d+ events, gap-free; cleaned up/);
      expect(first.stdout).toContain("npx wrangler rollback");
      const script = cf.state.scripts.get("edgeflow");
      expect([...(script?.secrets.keys() ?? [])].sort()).toEqual(["METRICS_TOKEN", "SECRETS_KEY"]);
      expect(script?.crons).toEqual(["* * * * *"]);
      // The last [[migrations]] tag of wrangler.toml: v5 added ConnectionObject, v6 CheckerObject.
      expect(script?.migrationTag).toBe("v6");
      // The dashboard went up as the Worker's static assets, built in the deploy from the sources alone.
      expect(script?.assets?.get("/index.html")?.toString()).toContain('<div id="root">');
      expect(script?.assetsConfig).toMatchObject({
        not_found_handling: "single-page-application",
        run_worker_first: ["/v1/*", "/health", "/openapi.json", "/docs", "/metrics", "/schemas/*", "/approve/*"],
        _headers: expect.stringContaining("Content-Security-Policy: default-src 'none'; script-src 'self'"),
      });
      expect(
        [...(script?.assets?.keys() ?? [])].filter((p) => p.startsWith("/assets/") && p.endsWith(".js")).length,
      ).toBe(1);
      // The throwaway smoke key was revoked after use: seen through the keys command with --remote, as in production.
      const keys = await run("npm", ["run", "-s", "keys", "--", "list", "deploy-smoke", "--remote"], {
        cwd: repo,
        env,
      });
      expect(keys.stdout).toMatch(/deploy smoke .* revoked \S+Z/);

      // A second deploy needs no secrets file: they are set on the Worker now, and nothing is created twice.
      const second = await deploy();
      expect(second.stderr ?? "").toBe("");
      expect(second.stdout).toContain("migrations: up to date");
      expect(script?.uploads).toBe(2);
      expect(script?.assets?.has("/index.html")).toBe(true);
      expect(cf.state.databases.size).toBe(1);
    } finally {
      await cf.close();
      rmSync(repo, { recursive: true, force: true });
    }
  }, 240_000);
});

/** The working tree's files (committed or not, git-ignored ones left out) in a fresh folder, node_modules linked. */

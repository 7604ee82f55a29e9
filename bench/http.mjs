// npm run bench:http: Edgeflow over real sockets, as a client meets it. Starts `npm start` fresh (its own state
// folder and port) and, beside it served the same way (scripts/lib/dev-server.mjs), a bare Worker that answers "ok" (the floor); then
// measures from this process: the floor, Edgeflow's unauthenticated 401, 1-step and 10-step start-and-wait
// (Prefer: wait), the same with POST + SSE stream, and 100 concurrent 10-step chains; with server CPU per execution
// read from /proc (utime + stime) for the engine's workerd and for the whole `npm start` tree. Writes its section of
// bench/RESULTS.md. Usage: npm run bench:http [-- --runs 100]; LOG_LEVEL=warn npm run bench:http measures the engine
// without its per-request and per-execution info lines.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { d1 } from "../scripts/lib/d1.mjs";

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf("--runs") + 1]) || 100;
const PORT = 8795;
const FLOOR_PORT = 8796;
const BASE = `http://127.0.0.1:${PORT}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)];
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

function procStat(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
}

/** The processes of the tree under `root`, by pid: parent, CPU ticks and command line. */
function treeProcs(root) {
  const procs = new Map();
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const s = procStat(p);
      procs.set(Number(p), { ...s, cmd: readFileSync(`/proc/${p}/cmdline`, "utf8") });
    } catch {
      // ended meanwhile
    }
  }
  const inTree = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 30; hops++) {
      if (p === root) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  return new Map([...procs].filter(([pid]) => inTree(pid)));
}

/** CPU ms so far of the process tree under `root`: all of it, and its workerd processes alone. */
function treeCpu(root) {
  let all = 0,
    workerd = 0;
  for (const p of treeProcs(root).values()) {
    all += p.cpuTicks;
    if (p.cmd.includes("workerd")) workerd += p.cpuTicks;
  }
  return { all: all * 10, workerd: workerd * 10 }; // USER_HZ = 100
}

async function waitUp(url, ms = 120_000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not come up`);
    await sleep(250);
  }
}

function startEdgeflow() {
  const dir = mkdtempSync(join(tmpdir(), "edgeflow-bench-http-"));
  const child = spawn(process.execPath, ["scripts/start.mjs"], {
    env: { ...process.env, PORT: String(PORT), EDGEFLOW_PERSIST_TO: dir },
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  return { child, dir };
}

// The floor Worker also prices each kind of call Edgeflow makes, served the same way: one D1 query, one RPC
// to a Durable Object that exists, and one to a new SQLite-backed object that writes a row (as a new execution does).
const FLOOR_WORKER = `import { DurableObject } from "cloudflare:workers";
export class Box extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)");
  }
  put(v) {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO t VALUES ('k', ?)", v);
    return "ok";
  }
}
let n = 0;
export default {
  async fetch(req, env) {
    const path = new URL(req.url).pathname;
    if (path === "/d1") return Response.json(await env.DB.prepare("SELECT 1 AS one").first());
    if (path === "/do") return new Response(await env.BOX.get(env.BOX.idFromName("one")).put("x"));
    if (path === "/new-do") return new Response(await env.BOX.get(env.BOX.idFromName("n" + n++ + Math.random())).put("x"));
    return new Response("ok");
  },
};
`;

function startFloor() {
  const dir = mkdtempSync(join(tmpdir(), "edgeflow-bench-floor-"));
  writeFileSync(join(dir, "worker.js"), FLOOR_WORKER);
  writeFileSync(
    join(dir, "wrangler.toml"),
    [
      'name = "floor"',
      'main = "worker.js"',
      'compatibility_date = "2026-11-01"',
      "[[d1_databases]]",
      'binding = "DB"',
      'database_name = "floor"',
      'database_id = "00000000-0000-0000-0000-000000000000"',
      "[[durable_objects.bindings]]",
      'name = "BOX"',
      'class_name = "Box"',
      "[[migrations]]",
      'tag = "v1"',
      'new_sqlite_classes = ["Box"]',
      "",
    ].join("\n"),
  );
  return spawn(
    process.execPath,
    ["bench/serve.mjs", String(FLOOR_PORT), join(dir, "state"), "--config", join(dir, "wrangler.toml")],
    { stdio: ["ignore", "ignore", "ignore"], detached: true },
  );
}

/**
 * Where `n` runs of `fn` make the engine's workerd wait for the disk: its fsync and fdatasync calls, counted by
 * `strace -f -y` and named by file (a Durable Object class's WAL, its journal, its folder, the alarms'
 * metadata.sqlite, local D1). Null when strace cannot attach here.
 */
async function fsyncsPer(root, stateDir, n, fn) {
  if (spawnSync("strace", ["-V"]).status !== 0) return null;
  const pids = [...treeProcs(root)].filter(([, p]) => p.cmd.includes("workerd")).map(([pid]) => String(pid));
  const out = join(mkdtempSync(join(tmpdir(), "edgeflow-fsyncs-")), "strace.out");
  const args = ["-f", "-y", "-e", "trace=fsync,fdatasync", "-o", out, ...pids.flatMap((p) => ["-p", p])];
  const tracer = spawn("strace", args, { stdio: "ignore" });
  const exited = new Promise((resolve) => tracer.on("exit", resolve));
  await sleep(1000);
  if (tracer.exitCode !== null) return null;
  for (let i = 0; i < n; i++) await fn();
  await sleep(500);
  tracer.kill("SIGINT");
  await exited;
  const by = new Map();
  for (const line of readFileSync(out, "utf8").split("\n")) {
    const m = /f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    if (!m) continue;
    const file = m[1]
      .replace(stateDir, "")
      .replace(/\/v3\/(do|d1)\//, "")
      .replace(/[0-9a-f]{64}/g, "<id>")
      .replace(/^miniflare-D1DatabaseObject/, "D1");
    by.set(file, (by.get(file) ?? 0) + 1);
  }
  const rows = [...by].sort((a, b) => b[1] - a[1]).map(([file, count]) => ({ file, perRun: count / n }));
  return { total: rows.reduce((s, r) => s + r.perRun, 0), rows };
}

async function series(label, n, fn) {
  for (let i = 0; i < Math.min(10, n); i++) await fn();
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  const r = { median: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
  console.log(`  ${label}: median ${fmt(r.median)} ms, p99 ${fmt(r.p99)} ms`);
  return r;
}

async function main() {
  const floor = startFloor();
  const { child, dir } = startEdgeflow();
  const stop = () => {
    for (const p of [floor, child])
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        // already gone
      }
  };
  process.on("exit", stop);
  try {
    await Promise.all([waitUp(`${BASE}/health`), waitUp(`http://127.0.0.1:${FLOOR_PORT}/`)]);
    const key = readFileSync(join(dir, "dev-api-key"), "utf8").trim();
    // The bench drives one key far past a client's rate; its own limit (a per-key override) keeps 429s out of the figures.
    d1("UPDATE api_keys SET rate_limit_per_minute = 1000000", { persistTo: dir });
    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const chain = async (n) =>
      (
        await (
          await fetch(`${BASE}/v1/workflows`, {
            method: "POST",
            headers: auth,
            body: JSON.stringify({
              name: `http-chain-${n}`,
              nodes: Array.from({ length: n }, (_, i) => ({
                id: `n${i}`,
                kind: "transform",
                ...(i ? { needs: [`n${i - 1}`] } : {}),
                config: { expression: String(i) },
              })),
            }),
          })
        ).json()
      ).id;
    const one = await chain(1);
    const ten = await chain(10);
    const startAndWait = async (wf) => {
      const res = await fetch(`${BASE}/v1/workflows/${wf}/executions`, {
        method: "POST",
        headers: { ...auth, prefer: "wait=30" },
        body: "{}",
      });
      const body = await res.json();
      if (body.status !== "succeeded") throw new Error(`HTTP ${res.status} ${body.code ?? body.status}`);
    };
    const postAndStream = async (wf) => {
      const { id } = await (
        await fetch(`${BASE}/v1/workflows/${wf}/executions`, { method: "POST", headers: auth, body: "{}" })
      ).json();
      const res = await fetch(`${BASE}/v1/executions/${id}/stream`, {
        headers: { ...auth, accept: "text/event-stream" },
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let seen = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`stream of ${id} ended early`);
        seen += decoder.decode(value, { stream: true });
        if (seen.includes('"type":"execution.succeeded"')) break;
      }
      await reader.cancel();
    };
    const crossed = [];
    const minuteNow = () => Math.floor(Date.now() / 60_000);
    const cpuOf = async (label, n, fn, root = child.pid) => {
      const before = treeCpu(root);
      const minute = minuteNow();
      const r = await series(label, n, fn);
      const after = treeCpu(root);
      if (root === child.pid && minuteNow() !== minute) crossed.push(label);
      const runs = n + Math.min(10, n);
      r.cpuEngine = (after.workerd - before.workerd) / runs;
      r.cpuTree = (after.all - before.all) / runs;
      console.log(
        `    server CPU per execution: engine workerd ${fmt(r.cpuEngine)} ms, whole npm start tree ${fmt(r.cpuTree)} ms`,
      );
      return r;
    };

    console.log(
      `\nHTTP bench: npm start on ${BASE}, a bare Worker on :${FLOOR_PORT} (both served by scripts/lib/dev-server.mjs), ${RUNS} runs each`,
    );
    const floorCall = (path) => async () => {
      const res = await fetch(`http://127.0.0.1:${FLOOR_PORT}${path}`);
      await res.text();
      if (res.status !== 200) throw new Error(`floor ${path}: ${res.status}`);
    };
    const bare = await cpuOf("bare Worker (the floor)", RUNS, floorCall("/"), floor.pid);
    const floorD1 = await cpuOf("bare Worker + one D1 query", RUNS, floorCall("/d1"), floor.pid);
    const floorDo = await cpuOf("bare Worker + one Durable Object RPC", RUNS, floorCall("/do"), floor.pid);
    const floorNew = await cpuOf(
      "bare Worker + a new SQLite Durable Object's first write",
      RUNS,
      floorCall("/new-do"),
      floor.pid,
    );
    // npm start fires the Cron Trigger at every minute boundary (watchdog, retention, schedules, monitors): work that
    // is not any execution's, yet lands in whichever row /proc is read around. Edgeflow's rows start 2 s after a
    // boundary and, at the default run count, end well before the next one; a row that still crosses one says so.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 2_000) {
      console.log(`  (waiting ${((62_000 - intoMinute) / 1000).toFixed(0)} s for the cron tick to pass)`);
      await sleep(62_000 - intoMinute);
    }
    const unauth = await cpuOf("Edgeflow 401 (no key)", RUNS, async () => {
      const res = await fetch(`${BASE}/v1/workflows`);
      await res.text();
      if (res.status !== 401) throw new Error(`expected 401, got ${res.status}`);
    });
    const read = await cpuOf("Edgeflow GET /v1/workflows/:id (key checked, one D1 read)", RUNS, async () => {
      const res = await fetch(`${BASE}/v1/workflows/${one}`, { headers: auth });
      await res.text();
      if (res.status !== 200) throw new Error(`expected 200, got ${res.status}`);
    });
    const wait1 = await cpuOf("1-step start-and-wait (Prefer: wait)", RUNS, () => startAndWait(one));
    const wait10 = await cpuOf("10-step start-and-wait", RUNS, () => startAndWait(ten));
    const stream1 = await cpuOf("1-step POST + SSE to execution.succeeded", RUNS, () => postAndStream(one));
    const stream10 = await cpuOf("10-step POST + SSE", RUNS, () => postAndStream(ten));

    const before = treeCpu(child.pid);
    const minute = minuteNow();
    const t0 = performance.now();
    let errors = 0;
    const reasons = new Map();
    const each = (
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const t = performance.now();
          try {
            await startAndWait(ten);
            return performance.now() - t;
          } catch (err) {
            errors++;
            reasons.set(err.message, (reasons.get(err.message) ?? 0) + 1);
            return null;
          }
        }),
      )
    ).filter((x) => x !== null);
    const wall = performance.now() - t0;
    if (minuteNow() !== minute) crossed.push("100 concurrent 10-step chains");
    const cpu = treeCpu(child.pid);
    const conc = {
      perSec: 100 / (wall / 1000),
      p50: quantile(each, 0.5),
      p99: quantile(each, 0.99),
      errors,
      cpuEngine: (cpu.workerd - before.workerd) / 100,
    };
    console.log(
      `  100 concurrent 10-step chains: ${fmt(conc.perSec)} executions/s, p50 ${fmt(conc.p50)} ms, p99 ${fmt(conc.p99)} ms, ${errors} errors, engine CPU ${fmt(conc.cpuEngine)} ms/execution`,
    );
    const why = [...reasons].map(([m, c]) => `${c} × ${m}`).join("; ");
    if (why) console.log(`    errors: ${why}`);

    // Last, as the tracer slows what it watches: the commits a short execution costs. Objects of the rows above are
    // evicted meanwhile, and their checkpoints (a WAL's pages into the object's file) count too, as they would in a
    // steady stream of executions.
    const fsyncs = await fsyncsPer(child.pid, dir, 30, () => startAndWait(one));
    if (fsyncs) {
      console.log(`  fsyncs per 1-step start-and-wait: ${fmt(fsyncs.total, 2)}`);
      for (const r of fsyncs.rows) console.log(`    ${fmt(r.perRun, 2).padStart(5)}  ${r.file}`);
    } else console.log("  fsyncs per 1-step start-and-wait: not counted (strace cannot attach here)");

    const x = (r) => fmt(r.median / bare.median, 2);
    const row = (label, r) =>
      `| ${label} | ${fmt(r.median)} | ${fmt(r.p99)} | ${x(r)} | ${fmt(r.cpuEngine)} | ${fmt(r.cpuTree)} |`;
    const rows = [
      "## Over real sockets (npm run bench:http)",
      "",
      `Measured ${new Date().toISOString()} by \`npm run bench:http\` (${RUNS} sequential runs per row after 10 warm-up, Edgeflow's rows between two cron ticks; 2-core machine; npm start and a bare Worker served the same way (scripts/lib/dev-server.mjs, no inspector); CPU from /proc; LOG_LEVEL ${process.env.LOG_LEVEL || "info"}).`,
      "",
      "| row | median ms | p99 ms | × floor (median) | workerd CPU ms per request or execution | whole dev server tree CPU ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      row("bare Worker (floor)", bare),
      row("bare Worker + one D1 query", floorD1),
      row("bare Worker + one RPC to a Durable Object", floorDo),
      row("bare Worker + a new SQLite Durable Object's first write", floorNew),
      row("Edgeflow 401 (no key)", unauth),
      row("Edgeflow GET of a workflow (key checked)", read),
      row("1-step start-and-wait", wait1),
      row("10-step start-and-wait", wait10),
      row("1-step POST + SSE", stream1),
      row("10-step POST + SSE", stream10),
      `| 100 concurrent 10-step chains | ${fmt(conc.perSec)} exec/s | p50 ${fmt(conc.p50)} / p99 ${fmt(conc.p99)} | - | ${fmt(conc.cpuEngine)} | - |`,
      ...(why ? ["", `Errors of the concurrent row: ${why}.`] : []),
      ...(crossed.length
        ? ["", `A cron tick fell inside these rows (their CPU includes it): ${crossed.join("; ")}.`]
        : []),
      "",
      ...(fsyncs
        ? [
            `fsyncs per 1-step start-and-wait (strace -f -y on the engine's workerd over 30 runs after the rows above, so with the checkpoints of earlier rows' objects as they are evicted, as in a steady stream; each is a wait on the disk and kernel CPU in the figures above): ${fmt(fsyncs.total, 2)} — ${fsyncs.rows.map((r) => `${fmt(r.perRun, 2)} ${r.file}`).join(", ")}.`,
            "",
          ]
        : []),
      `Targets (#36): 401 ≤ 1.5× floor (now ${x(unauth)}×); 1-step ≤ 3× floor and ≤ 10 ms engine CPU (now ${x(wait1)}×, ${fmt(wait1.cpuEngine)} ms); 10-step ≤ 4× floor and ≤ 15 ms (now ${x(wait10)}×, ${fmt(wait10.cpuEngine)} ms); 100 concurrent ≥ 100 exec/s with 0 errors (now ${fmt(conc.perSec)}, ${errors} errors).`,
      "",
    ].join("\n");
    console.log(`\n${rows}`);
    const file = "bench/RESULTS.md";
    const current = readFileSync(file, "utf8");
    const start = current.indexOf("## Over real sockets (npm run bench:http)");
    const end = start < 0 ? -1 : current.indexOf("\n## ", start + 3);
    const next =
      start < 0
        ? `${current.trimEnd()}\n\n${rows}`
        : `${current.slice(0, start)}${rows}${end < 0 ? "" : current.slice(end + 1)}`;
    writeFileSync(file, next);
  } finally {
    stop();
  }
  process.exit(0);
}

await main();

// npm run bench: Edgeflow against its baselines in one workerd, printed as ratios (see ../shared/BENCHMARKS.md).
// Usage: npm run bench [-- --iterations 30 --quick]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { applyMigrations, createKey } from "../scripts/lib/d1.mjs";
import { capacity } from "./capacity.mjs";
import { fixedCost } from "./fixed-cost.mjs";
import { forks } from "./forks.mjs";
import { migrations } from "./migrations.mjs";
import { cpuProfile } from "./profile.mjs";
import { startPath } from "./start-path.mjs";
import { startModelServer } from "./model-server.mjs";
import { tokenStreams } from "./token-streams.mjs";
import { monitorCapacity } from "./monitor-capacity.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
// --only broadcast | fixed-cost | forks | migrations | start-path | chain | capacity | profile | post | new-object | tokens | monitors: just that scenario, for working on it (RESULTS.md is left
// alone). `chain` is scenario 1's 100-node chain with its baselines, for comparing two builds of the engine.
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const ITER = Number(args[args.indexOf("--iterations") + 1]) || (quick ? 5 : 30);
const PORT = 8790;
// bench/wrangler.bench.toml points the mid tier here.
const MODEL_PORT = 8791;
const INSPECTOR_PORT = 9239;
const BASE = `http://127.0.0.1:${PORT}`;
const opts = { config: "bench/wrangler.bench.toml", persistTo: ".wrangler/bench-state" };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));

let devPid = 0;

function stat(pid) {
  return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
}

function descendsFromDev(pid) {
  for (let p = Number(pid), hops = 0; p > 1 && hops < 20; hops++) {
    if (p === devPid) return true;
    p = Number(stat(p)[1]);
  }
  return false;
}

/** CPU time (ms) used so far by the workerd processes of this bench's wrangler: utime + stime from /proc. */
function workerdCpuMs() {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("workerd") || !descendsFromDev(pid)) continue;
      const fields = stat(pid);
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between listing and reading.
    }
  }
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

async function get(path) {
  const res = await fetch(`${BASE}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function api(method, path, key, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

const noop = (id, needs = []) => ({ id, kind: "transform", needs, config: { expression: "0" } });
const chainDef = (n) => ({
  name: `chain-${n}`,
  nodes: Array.from({ length: n }, (_, i) => noop(`n${i}`, i ? [`n${i - 1}`] : [])),
});
const fanDef = (n) => ({
  name: `fan-${n}`,
  max_parallel: 64,
  nodes: [
    noop("root"),
    ...Array.from({ length: n }, (_, i) => noop(`p${i}`, ["root"])),
    noop(
      "join",
      Array.from({ length: n }, (_, i) => `p${i}`),
    ),
  ],
});

/** Run `fn` ITER times (after warm-up), returning in-workerd durations and workerd CPU per run. */
async function measure(label, fn, iterations = ITER, warmup = 3) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  const cpu0 = workerdCpuMs();
  for (let i = 0; i < iterations; i++) ms.push(await fn());
  const cpu = (workerdCpuMs() - cpu0) / iterations;
  process.stdout.write(
    `  ${label}: median ${fmt(quantile(ms, 0.5))} ms, p99 ${fmt(quantile(ms, 0.99))} ms, workerd CPU ${fmt(cpu)} ms/run\n`,
  );
  return { median: quantile(ms, 0.5), p99: quantile(ms, 0.99), cpu };
}

/**
 * Scenario 5: a 50-node chain released by one event, broadcast to N subscribers; beside it the bare-DO floor (send
 * only) and the same floor writing each message to SQLite first (the cost of persisting before broadcasting).
 */
async function broadcast(key) {
  console.log(
    "\nBroadcast: a 50-node chain released by one event, to N WebSocket subscribers held inside workerd (slowest subscriber per event)",
  );
  const gated = {
    name: "broadcast",
    nodes: [
      { id: "gate", kind: "wait_for_event", config: { event: "go" } },
      ...chainDef(50).nodes.map((n, i) => (i === 0 ? { ...n, needs: ["gate"] } : n)),
    ],
  };
  const gatedId = (await api("POST", "/v1/workflows", key, gated)).id;
  const fanout = [];
  for (const n of [1, 100, 1000]) {
    // One run is ~100 events, too few for a p99: rounds are pooled, and the three sides alternate within each round
    // so drift on the machine falls on all of them alike.
    const rounds = n >= 1000 ? Math.max(2, Math.round(ITER / 6)) : Math.max(4, Math.round(ITER / 3));
    const sides = { edgeflow: [], floor: [], persisted: [] };
    for (let r = 0; r < rounds; r++) {
      const ours = await get(`/bench/broadcast?mode=edgeflow&n=${n}&workflow=${gatedId}&key=${key}`);
      sides.edgeflow.push(ours);
      for (const mode of ["floor", "persisted"]) {
        // The engine's tail (projection to D1, slot releases) shares workerd's thread: let it finish first.
        await sleep(500);
        sides[mode].push(await get(`/bench/broadcast?mode=${mode}&n=${n}&events=${ours.events}`));
      }
      await sleep(500);
    }
    const pooled = Object.fromEntries(
      Object.entries(sides).map(([side, runs]) => {
        const lats = runs.flatMap((x) => x.lats);
        return [
          side,
          {
            events: lats.length,
            p50: quantile(lats, 0.5),
            p99: quantile(lats, 0.99),
            per_sec: quantile(
              runs.map((x) => x.per_sec),
              0.5,
            ),
            complete: runs.every((x) => x.complete),
            worst: runs
              .flatMap((x) => x.worst)
              .sort((a, b) => b.ms - a.ms)
              .slice(0, 3)
              .map((w) => `${w.type} #${w.seq} ${w.ms} ms`),
          },
        ];
      }),
    );
    fanout.push([n, pooled]);
    const line = (f) =>
      `p50 ${fmt(f.p50, 1)} / p99 ${fmt(f.p99, 1)} ms, ${fmt(f.per_sec, 0)} events/s${f.complete ? "" : " GAPS"}`;
    console.log(
      `  ${n} subscribers, ${rounds} rounds (${pooled.edgeflow.events} events each side): edgeflow ${line(pooled.edgeflow)}; floor ${line(pooled.floor)}; floor + SQLite write ${line(pooled.persisted)}`,
    );
    console.log(`    edgeflow's slowest: ${pooled.edgeflow.worst.join("; ")}`);
  }
  return fanout;
}

async function main() {
  rmSync(opts.persistTo, { recursive: true, force: true });
  applyMigrations(opts);
  const { token: key, tenantId } = await createKey("bench", opts);

  // workerd and the harness on different cores where possible, so the harness does not steal the engine's time.
  const pin = existsSync("/usr/bin/taskset") ? ["taskset", "-c", "1"] : [];
  if (pin.length) execFileSync("taskset", ["-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  // bench/serve.mjs: served as npm start serves Edgeflow (scripts/lib/dev-server.mjs), without a DevTools inspector;
  // the profile scenario attaches one and drives V8's profiler over it.
  const [cmd, ...rest] = [
    ...pin,
    process.execPath,
    "bench/serve.mjs",
    String(PORT),
    opts.persistTo,
    ...(only === "profile" ? [String(INSPECTOR_PORT)] : []),
  ];
  const dev = spawn(cmd, rest, {
    stdio: ["ignore", "ignore", "inherit"],
    detached: true,
  });
  devPid = dev.pid;
  const stop = () => {
    try {
      process.kill(-dev.pid, "SIGTERM");
    } catch {}
  };
  process.on("exit", stop);
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${BASE}/bench/noop`)).ok) break;
    } catch {}
    if (i > 600) throw new Error("the bench Worker did not come up");
    await sleep(100);
  }

  const model = await startModelServer(MODEL_PORT);
  const tokens = () => tokenStreams({ base: BASE, key, api, model: model.url, quantile, fmt, iterations: ITER });
  if (only === "monitors") {
    // --monitors N: another fleet size (default 10,000).
    const n = args.includes("--monitors") ? Number(args[args.indexOf("--monitors") + 1]) : 10_000;
    await monitorCapacity({ get, fmt }, n);
    stop();
    process.exit(0);
  }
  if (only === "tokens") {
    await tokens();
    stop();
    process.exit(0);
  }

  const wf = {};
  for (const [name, def] of Object.entries({
    chain100: chainDef(100),
    fan100: fanDef(100),
    chain10: chainDef(10),
    chain1000: chainDef(1000),
    chain1: chainDef(1),
    chain3: chainDef(3),
    // Three nodes each returning 2,000 characters: what outputs (which D1 keeps) add to an execution's footprint.
    chain3out: {
      name: "chain3out",
      nodes: [0, 1, 2].map((i) => ({
        id: `n${i}`,
        kind: "transform",
        ...(i ? { needs: [`n${i - 1}`] } : {}),
        config: { expression: '$pad("", 2000, "x")' },
      })),
    },
    map20: {
      name: "map20",
      nodes: [
        {
          id: "m",
          kind: "map",
          config: { items: "[1..20]", node: { kind: "transform", config: { expression: "1" } } },
        },
      ],
    },
  })) {
    wf[name] = (await api("POST", "/v1/workflows", key, def)).id;
  }
  // engine(name, true): one call, POST with Prefer: wait, instead of the POST and then a settled call.
  const engine =
    (name, wait = false) =>
    () =>
      get(`/bench/engine?workflow=${wf[name]}&key=${key}&tenant=${tenantId}${wait ? "&wait=1" : ""}`).then((r) => r.ms);
  const workflows = (shape, n) => () => get(`/bench/workflows?shape=${shape}&n=${n}`).then((r) => r.ms);
  const floor = (n) => () => get(`/bench/floor?n=${n}`).then((r) => r.ms);

  const engineBatch = (n) => () =>
    get(`/bench/engine-batch?workflow=${wf.chain3}&key=${key}&tenant=${tenantId}&n=${n}`).then((r) => r.ms);
  const workflowsBatch = (n, steps) => () => get(`/bench/workflows-batch?n=${n}&steps=${steps}`).then((r) => r.ms);
  const fixed = () =>
    fixedCost({ measure, engine, workflows, engineBatch, workflowsBatch, quantile, fmt, iterations: ITER });
  const forked = () => forks({ base: BASE, key, api, measure, fmt, iterations: ITER });
  if (only === "forks") {
    await forked();
    stop();
    process.exit(0);
  }
  const migrated = () => migrations({ base: BASE, key, api, fmt });
  if (only === "migrations") {
    await migrated();
    stop();
    process.exit(0);
  }
  if (only === "start-path") {
    await startPath({ base: BASE, key, workflowId: wf.chain1, measure, quantile, fmt });
    stop();
    process.exit(0);
  }
  const capacityModel = () => capacity({ get, engine, sleep, fmt });
  if (only === "post") {
    // Scenario 4's first row alone: POST to the 201, measured inside workerd, with the run it starts going on.
    await measure(
      "POST alone, to the 201",
      () => get(`/bench/first-event?transport=none&workflow=${wf.chain10}&key=${key}`).then((r) => r.ms),
      200,
    );
    stop();
    process.exit(0);
  }
  if (only === "new-object") {
    // What one execution pays for being its own Durable Object, whatever it runs: a call to an object that exists,
    // to a new bare one, and to a new ExecutionObject (made, its SQLite schema created), each an HTTP request.
    const call = (path) => () => get(path).then((r) => r.ms);
    await measure("HTTP request to a route that does nothing", () => get("/bench/noop-json").then(() => 0), 300);
    await measure("+ a call to an existing object", call("/bench/do-noop"), 300);
    await measure("+ a call to a new bare object", call("/bench/do-new-bare"), 300);
    await measure("+ a call to a new ExecutionObject", call("/bench/do-new"), 300);
    stop();
    process.exit(0);
  }
  if (only === "profile") {
    await cpuProfile({
      inspectorPort: INSPECTOR_PORT,
      engine,
      runs: 300,
      fmt,
      concurrent: args.includes("--concurrent"),
      // PROFILE_WORKFLOW=chain100: the sequential runs start another of the workflows above.
      workflow: process.env.PROFILE_WORKFLOW || undefined,
      // --read: authenticated GETs of a workflow instead, the per-request cost every /v1 call pays.
      read: args.includes("--read")
        ? async () => {
            const res = await fetch(`${BASE}/v1/workflows/${wf.chain1}`, {
              headers: { authorization: `Bearer ${key}` },
            });
            if (!res.ok) throw new Error(`read answered ${res.status}`);
            await res.text();
          }
        : null,
    });
    stop();
    process.exit(0);
  }
  if (only === "capacity") {
    const { rows } = await capacityModel();
    console.log(`\n${rows.join("\n")}`);
    stop();
    process.exit(0);
  }
  if (only === "chain") {
    const rpc = await measure("no-op DO RPC round trip", () => get("/bench/do-noop").then((r) => r.ms), 200);
    const ours = await measure("edgeflow chain 100", engine("chain100"));
    const theirs = await measure("workflows (step.do chain)", workflows("chain", 100));
    const fl = await measure("floor DO (same writes, no logic)", floor(100));
    const per = (r) => (r.median - rpc.median) / 100;
    console.log(`\nchain 100 per node: wall ${fmt(per(ours), 3)} ms, workerd CPU ${fmt(ours.cpu / 100, 3)} ms`);
    console.log(
      `  / workflows-local ${fmt(per(ours) / per(theirs), 3)} (wall), / floor ${fmt(per(ours) / per(fl), 2)}`,
    );
    stop();
    process.exit(0);
  }
  if (only === "broadcast" || only === "fixed-cost") {
    await (only === "broadcast" ? broadcast(key) : fixed());
    stop();
    process.exit(0);
  }
  console.log(`Edgeflow bench: ${ITER} iterations per scenario (after 3 warm-up runs)\n`);
  const http = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await fetch(`${BASE}/bench/noop`).then((r) => r.text());
    http.push(performance.now() - t);
  }
  const rpc = await measure("no-op DO RPC round trip", () => get("/bench/do-noop").then((r) => r.ms), 200);
  console.log(`  no-op Worker HTTP round trip (harness): median ${fmt(quantile(http, 0.5))} ms`);

  console.log("\nChain of 100 no-op transform nodes");
  const c100 = await measure("edgeflow", engine("chain100"));
  const wf100 = await measure("workflows (step.do chain)", workflows("chain", 100));
  const fl100 = await measure("floor DO (same writes, no logic)", floor(100));

  console.log("\nFan-out/fan-in: root -> 100 parallel -> join (102 nodes)");
  const f100 = await measure("edgeflow", engine("fan100"));
  const wff100 = await measure("workflows (Promise.all of step.do)", workflows("fan", 100));

  console.log("\nChain of 1000 no-op transform nodes");
  const c1000 = await measure("edgeflow", engine("chain1000"), Math.max(3, Math.floor(ITER / 3)), 1);
  const fl1000 = await measure("floor DO", floor(1000), Math.max(3, Math.floor(ITER / 3)), 1);

  console.log("\n100 concurrent executions of a 10-node chain");
  const concurrent = 100;
  const t0 = performance.now();
  const each = await Promise.all(Array.from({ length: concurrent }, () => engine("chain10")()));
  const wall = performance.now() - t0;
  const execPerSec = concurrent / (wall / 1000);
  console.log(
    `  ${fmt(execPerSec, 1)} executions/s; completion p50 ${fmt(quantile(each, 0.5))} ms, p99 ${fmt(quantile(each, 0.99))} ms`,
  );

  const fanout = await broadcast(key);
  const cost = await fixed();
  const model2 = await capacityModel();
  const streamed = await tokens();
  const watched = await monitorCapacity({ get, fmt });
  const forkRun = await forked();
  const migrationRun = await migrated();

  console.log("\nPOST to the first stream event (the client opens the stream right after the 201)");
  const first = (transport) => () =>
    get(`/bench/first-event?transport=${transport}&workflow=${wf.chain10}&key=${key}`).then((r) => r.ms);
  const postOnly = await measure("POST alone, to the 201", first("none"), 200);
  const firstWs = await measure("POST + WebSocket to the first event", first("ws"), 200);
  const firstSse = await measure("POST + SSE to the first event", first("sse"), 200);

  const perNode = (r, n) => (r.median - rpc.median) / n;
  const rows = [
    ["chain 100: ms per node (wall)", perNode(c100, 100), perNode(wf100, 100), perNode(fl100, 100)],
    ["chain 100: workerd CPU ms per node", c100.cpu / 100, wf100.cpu / 100, fl100.cpu / 100],
    ["fan 100: makespan ms", f100.median, wff100.median, undefined],
    ["fan 100: workerd CPU ms per node", f100.cpu / 102, wff100.cpu / 102, undefined],
    ["chain 1000: ms per node (wall)", perNode(c1000, 1000), undefined, perNode(fl1000, 1000)],
  ];
  const table = [
    "| scenario | edgeflow | workflows (local) | floor DO | edgeflow / workflows | edgeflow / floor |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      ([name, ours, theirs, fl]) =>
        `| ${name} | ${fmt(ours, 3)} | ${fmt(theirs, 3)} | ${fmt(fl, 3)} | ${theirs ? fmt(ours / theirs, 3) : "-"} | ${fl ? fmt(ours / fl, 2) : "-"} |`,
    ),
    `| 100 concurrent 10-node chains | ${fmt(execPerSec, 1)} exec/s, p50 ${fmt(quantile(each, 0.5), 1)} ms, p99 ${fmt(quantile(each, 0.99), 1)} ms | | | | |`,
    "",
    "| broadcast, slowest subscriber per event (events pooled) | edgeflow p50 / p99 ms | bare-DO floor p50 / p99 ms | floor + SQLite write p50 / p99 ms | edgeflow / floor (p99) | edgeflow / floor + write (p99) | events/s: edgeflow / floor / floor + write |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...fanout.map(
      ([n, { edgeflow: o, floor: f, persisted: p }]) =>
        `| ${n} subscribers (${o.events} events) | ${fmt(o.p50, 1)} / ${fmt(o.p99, 1)} | ${fmt(f.p50, 1)} / ${fmt(f.p99, 1)} | ${fmt(p.p50, 1)} / ${fmt(p.p99, 1)} | ${fmt(o.p99 / Math.max(f.p99, 1), 2)} | ${fmt(o.p99 / Math.max(p.p99, 1), 2)} | ${fmt(o.per_sec, 0)} / ${fmt(f.per_sec, 0)} / ${fmt(p.per_sec, 0)} |`,
    ),
    "",
    "| POST to the first stream event (200 runs) | p50 ms | p99 ms | above POST alone (p50) |",
    "| --- | ---: | ---: | ---: |",
    `| POST alone, to the 201 | ${fmt(postOnly.median, 2)} | ${fmt(postOnly.p99, 2)} | - |`,
    `| POST + WebSocket, first event | ${fmt(firstWs.median, 2)} | ${fmt(firstWs.p99, 2)} | ${fmt(firstWs.median - postOnly.median, 2)} |`,
    `| POST + SSE, first event | ${fmt(firstSse.median, 2)} | ${fmt(firstSse.p99, 2)} | ${fmt(firstSse.median - postOnly.median, 2)} |`,
    "",
    ...cost.rows,
    "",
    ...model2.rows,
    "",
    ...streamed.rows,
    "",
    ...watched.rows,
    "",
    ...forkRun.rows,
    "",
    ...migrationRun.rows,
  ].join("\n");
  const versions = JSON.parse(
    execFileSync("npm", ["ls", "wrangler", "workerd", "--json", "--depth=3"], { encoding: "utf8" }),
  );
  const wranglerVersion = versions.dependencies?.wrangler?.version;
  const speedup = wf100.median / c100.median;
  const hundred = fanout[1][1];
  const summary = [
    `Per-node scheduling overhead, 100-node chain: ${fmt(perNode(c100, 100), 3)} ms wall (target <= 1 ms), ${fmt(c100.cpu / 100, 3)} ms workerd CPU.`,
    `Workflows-local per step: ${fmt(perNode(wf100, 100), 3)} ms; Edgeflow is ${fmt(speedup, 1)}x faster per step (target >= 3x).`,
    `Edgeflow above the floor DO (same writes, no logic): ${fmt(perNode(c100, 100) - perNode(fl100, 100), 3)} ms per node.`,
    `Broadcast to 100 subscribers: p99 ${fmt(hundred.edgeflow.p99, 1)} ms (target < 10 ms), ${fmt(hundred.edgeflow.p99 / Math.max(hundred.floor.p99, 1), 2)}x the bare-DO floor's p99 (target <= 2x; workerd's clock ticks in whole ms, so a p99 is floored at 1 ms), ${fmt(hundred.edgeflow.p99 / Math.max(hundred.persisted.p99, 1), 2)}x a floor that writes each event to SQLite before sending it.`,
    cost.summary,
    streamed.summary,
    watched.summary,
    forkRun.summary,
    migrationRun.summary,
    `Broadcast tails: ${fanout.map(([n, f]) => `${n} subscribers: ${f.edgeflow.worst.join(", ")}`).join("; ")}.`,
  ];
  console.log(`\n${table}\n\n${summary.join("\n")}`);
  // bench:http owns its own section (## Over real sockets); a full run rewrites everything above it and keeps it.
  const previous = existsSync("bench/RESULTS.md") ? readFileSync("bench/RESULTS.md", "utf8") : "";
  const httpAt = previous.indexOf("\n## Over real sockets (npm run bench:http)");
  const httpSection = httpAt < 0 ? "" : `\n${previous.slice(httpAt).trim()}\n`;
  writeFileSync(
    "bench/RESULTS.md",
    `# Bench results\n\nMeasured ${new Date().toISOString()} by \`npm run bench\` (${ITER} iterations; medians; wrangler ${wranglerVersion}, ` +
      `compatibility date 2026-11-01; ${pin.length ? "workerd pinned to core 1, harness to core 0" : "no core pinning"}; 2-core machine). ` +
      `Times are measured inside workerd from the POST to the settled signal; "per node" subtracts the ${fmt(rpc.median, 3)} ms no-op DO RPC round trip.\n\n` +
      `${table}\n\n${summary.map((s) => `- ${s}`).join("\n")}\n${httpSection}`,
  );
  stop();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

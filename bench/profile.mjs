// `npm run bench -- --only profile`: where workerd's CPU goes while it starts and runs short executions. The V8
// sampling profiler is driven over the bench Worker's inspector (bench/serve.mjs given an inspector port; Chrome
// DevTools protocol), around `runs` executions of a 1-node workflow started through the public API; the report lists
// functions by self time, by module and by inclusive time.

async function cdp(inspectorPort) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspectable target on port ${inspectorPort}: ${JSON.stringify(targets)}`);
  // wrangler's inspector proxy accepts local DevTools origins only; Node's WebSocket (undici) lets us say we are one.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: `http://127.0.0.1:${inspectorPort}` } });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  return { send, close: () => ws.close() };
}

/**
 * Names a bundle line by the source module esbuild marked above it (`// src/durable/execution-run.ts`), so a
 * function in the one-file bundle reads as where it lives.
 */
function moduleOf(sources, scriptId, line) {
  const lines = sources.get(scriptId);
  if (!lines) return "";
  for (let i = line; i >= 0; i--) {
    const m = /^\/\/ (.+\.(?:ts|mjs|js))$/.exec(lines[i] ?? "");
    if (m) return m[1].replace(/^.*node_modules\//, "");
  }
  return "";
}

/** Self and inclusive time per function (name and line), from a V8 CPU profile. */
function summarize(profile, sources) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    const file = f.url ? f.url.split("/").pop() : "";
    const mod = moduleOf(sources, f.scriptId, f.lineNumber);
    return `${f.functionName || "(anonymous)"} ${mod || file}:${f.lineNumber + 1}`;
  };
  const self = new Map();
  const byModule = new Map();
  const incl = new Map();
  const lines = new Map();
  let total = 0;
  for (const [id, us] of selfUs) {
    total += us;
    const n = byId.get(id);
    // V8 attributes samples to lines too (positionTicks): the line a hot function spends its time on.
    for (const t of n.positionTicks ?? []) {
      const text = (sources.get(n.callFrame.scriptId)?.[t.line - 1] ?? "").trim().slice(0, 110);
      const at = `${key(n)} line ${t.line}: ${text}`;
      lines.set(at, (lines.get(at) ?? 0) + (us * t.ticks) / Math.max(1, n.hitCount));
    }
    self.set(key(n), (self.get(key(n)) ?? 0) + us);
    const mod =
      moduleOf(sources, n.callFrame.scriptId, n.callFrame.lineNumber) || n.callFrame.functionName || "(native)";
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    // Inclusive: every distinct function on the sample's stack gets the sample once.
    const seen = new Set();
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const k = key(byId.get(p));
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const top = (m, n) =>
    [...m]
      .filter(([k]) => !/^\((root|program|idle)\)/.test(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n);
  return { total, self: top(self, 25), modules: top(byModule, 25), incl: top(incl, 40), lines: top(lines, 60) };
}

/**
 * `concurrent`: profile rounds of 100 concurrent 10-node chains instead (where throughput under load goes), `runs`
 * executions in all. `read`: profile `runs` calls of it instead (an authenticated GET: what every /v1 request pays).
 * `workflow`: which of the bench's workflows the sequential runs start (chain100: where a node's cost goes).
 */
export async function cpuProfile({
  inspectorPort,
  engine,
  runs,
  fmt,
  concurrent = false,
  read = null,
  workflow = "chain1",
}) {
  const c = await cdp(inspectorPort);
  await c.send("Profiler.enable");
  await c.send("Profiler.setSamplingInterval", { interval: 100 });
  for (let i = 0; i < 20; i++) await engine("chain1")();
  await c.send("Profiler.start");
  if (read) for (let i = 0; i < runs; i++) await read();
  else if (concurrent)
    for (let done = 0; done < runs; done += 100)
      await Promise.all(Array.from({ length: 100 }, () => engine("chain10")()));
  else for (let i = 0; i < runs; i++) await engine(workflow)();
  const { profile } = await c.send("Profiler.stop");
  const sources = new Map();
  await c.send("Debugger.enable");
  for (const scriptId of new Set(profile.nodes.map((n) => n.callFrame.scriptId).filter((x) => x && x !== "0"))) {
    const url = profile.nodes.find((n) => n.callFrame.scriptId === scriptId)?.callFrame.url ?? "";
    if (!url.endsWith("worker.js")) continue;
    const { scriptSource } = await c.send("Debugger.getScriptSource", { scriptId });
    sources.set(scriptId, scriptSource.split("\n"));
  }
  c.close();
  const s = summarize(profile, sources);
  const ms = (us) => fmt(us / 1000 / runs, 3);
  const what = read
    ? "authenticated reads (GET /v1/workflows/:id)"
    : concurrent
      ? "10-node executions, 100 at a time"
      : `${workflow === "chain1" ? "1-node" : workflow} executions`;
  console.log(
    `\nCPU profile: ${runs} ${what}${read ? ", per request" : " (start through the API to settled), per execution"}`,
  );
  // With the inspector attached (the profiler needs it) every console.log costs workerd ~0.7 ms: see bench/serve.mjs.
  console.log("  (an inspector is attached: log lines cost far more here than without one)");
  console.log(`  sampled JavaScript time: ${ms(s.total)} ms (outside JS, e.g. SQLite and I/O in workerd, is not here)`);
  console.log("\n  by self time (ms per execution):");
  for (const [k, us] of s.self) console.log(`    ${ms(us).padStart(7)}  ${k}`);
  // Self time summed per source module: where many small functions of one library or file add up.
  console.log("\n  by module, self time (ms per execution):");
  for (const [k, us] of s.modules) console.log(`    ${ms(us).padStart(7)}  ${k}`);
  if (process.env.PROFILE_LINES) {
    // The hottest lines of the bundle by self time, for reading what a hot function does there.
    for (const [at, us] of s.lines.slice(0, Number(process.env.PROFILE_LINES)))
      console.log(`    ${ms(us).padStart(7)}  ${at}`);
  }
  console.log("\n  by inclusive time (ms per execution):");
  for (const [k, us] of s.incl) console.log(`    ${ms(us).padStart(7)}  ${k}`);
}

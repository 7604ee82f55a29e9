// The bench Worker: Edgeflow's real worker plus its baselines (Cloudflare Workflows, a floor DO, a no-op route),
// so every scenario runs in the same workerd. Completion is signalled (DO RPC / latch), never polled.
import { DurableObject, WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import worker from "../src/worker";
import { executionStub } from "../src/durable/client";
import { openDb } from "../src/db/client";
import { projectExecution, type ExecutionRow, type NodeRunRow } from "../src/db/history-repo";
import { runMonitors } from "../src/cron/monitors";

// The D1 tables an execution writes to (the history), for the capacity model.
const HISTORY_TABLES = ["executions", "node_runs", "execution_tags", "execution_metadata", "llm_usage"];

/** A projection as an ExecutionObject writes it: one execution row and `nodes` node rows, in one batch. */
function syntheticProjection(id: string, nodes: number): { exec: ExecutionRow; nodes: NodeRunRow[] } {
  const now = Date.now();
  const exec: ExecutionRow = {
    id,
    tenant_id: "t_capacity",
    workflow_id: "wf_capacity",
    version: 1,
    status: "succeeded",
    input: { n: 1 },
    output: { last: 1 },
    error_code: null,
    error_message: null,
    created_at: now,
    started_at: now,
    finished_at: now,
    deadline_at: now + 60_000,
    seq: 10,
    projected_at: now,
    wake_at: null,
    parent_execution_id: null,
    parent_node_id: null,
    retain_until: null,
  };
  const rows: NodeRunRow[] = Array.from({ length: nodes }, (_, i) => ({
    execution_id: id,
    node_id: `n${i}`,
    kind: "transform",
    status: "succeeded",
    attempt: 1,
    started_at: now,
    finished_at: now,
    output: i,
    error_code: null,
    error_message: null,
    seq: 10,
  }));
  return { exec, nodes: rows };
}

export {
  BreakerObject,
  CheckerObject,
  ConnectionObject,
  ExecutionObject,
  MetricsObject,
  TenantObject,
} from "../src/worker";

interface BenchEnv extends Env {
  CHAIN: Workflow<{ n: number; latch: string }>;
  FAN: Workflow<{ n: number; latch: string }>;
  LATCH: DurableObjectNamespace<Latch>;
  FLOOR: DurableObjectNamespace<FloorObject>;
  BROADCAST_FLOOR: DurableObjectNamespace<BroadcastFloor>;
}

/**
 * The broadcast floor: a bare DO with hibernatable sockets that only does getWebSockets().forEach(send). With
 * `persist` it first writes each message to its SQLite, so the output gate holds the send until the commit, the
 * least any object that persists before it broadcasts must pay.
 */
export class BroadcastFloor extends DurableObject<BenchEnv> {
  override async fetch(): Promise<Response> {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
  async burst(n: number, persist = false): Promise<void> {
    if (persist)
      this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    for (let seq = 1; seq <= n; seq++) {
      const msg = JSON.stringify({ seq, type: "floor", at: new Date().toISOString(), data: {} });
      if (persist) this.ctx.storage.sql.exec("INSERT INTO log (seq, body) VALUES (?, ?)", seq, msg);
      this.ctx.getWebSockets().forEach((ws) => ws.send(msg));
      // Paced like the engine with subscribers attached: one macrotask per step, so neither side is timed
      // on a burst that queues every message behind the previous ones.
      await scheduler.wait(0);
    }
  }
}

/** Resolves `wait()` once `release()` is called: how a baseline tells the harness it finished. */
export class Latch extends DurableObject<BenchEnv> {
  private releases = 0;
  private waiters: { count: number; resolve: () => void }[] = [];
  /** Resolves once release() was called `count` times (a batch of runs shares one latch). */
  async wait(count = 1): Promise<void> {
    if (this.releases < count) await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
  }
  release(): void {
    this.releases++;
    this.waiters = this.waiters.filter((w) => (w.count <= this.releases ? (w.resolve(), false) : true));
  }
}

/** Cloudflare Workflows running the same chain: one step.do per node. */
export class ChainWorkflow extends WorkflowEntrypoint<BenchEnv, { n: number; latch: string }> {
  override async run(event: WorkflowEvent<{ n: number; latch: string }>, step: WorkflowStep) {
    let value = 0;
    for (let i = 0; i < event.payload.n; i++) value = await step.do(`n${i}`, async () => value + 1);
    await this.env.LATCH.get(this.env.LATCH.idFromName(event.payload.latch)).release();
    return value;
  }
}

/** Cloudflare Workflows running the same fan-out/fan-in: Promise.all over one level of step.do. */
export class FanWorkflow extends WorkflowEntrypoint<BenchEnv, { n: number; latch: string }> {
  override async run(event: WorkflowEvent<{ n: number; latch: string }>, step: WorkflowStep) {
    await step.do("root", async () => 0);
    const parts = await Promise.all(Array.from({ length: event.payload.n }, (_, i) => step.do(`p${i}`, async () => i)));
    await step.do("join", async () => parts.length);
    await this.env.LATCH.get(this.env.LATCH.idFromName(event.payload.latch)).release();
  }
}

/**
 * The floor: exactly the storage writes the engine makes per node (an event row, a dirty mark, the node row and
 * the execution row, at start and at finish), driven from one alarm, with no scheduling logic at all.
 */
export class FloorObject extends DurableObject<BenchEnv> {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    ctx.storage.sql
      .exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT, node_id TEXT, attempt INTEGER, at INTEGER, data TEXT);
      CREATE TABLE IF NOT EXISTS dirty (key TEXT PRIMARY KEY, seq INTEGER);
      CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, status TEXT, attempt INTEGER, output TEXT, seq INTEGER);
      CREATE TABLE IF NOT EXISTS execution (id TEXT PRIMARY KEY, status TEXT, flush_due_at INTEGER);
      CREATE TABLE IF NOT EXISTS job (n INTEGER, latch TEXT);`);
  }
  async run(n: number, latch: string): Promise<void> {
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM job");
    sql.exec("INSERT INTO job VALUES (?, ?)", n, latch);
    sql.exec("INSERT OR REPLACE INTO execution VALUES ('x', 'running', NULL)");
    for (let i = 0; i < n; i++) sql.exec("INSERT OR REPLACE INTO nodes VALUES (?, 'pending', 0, NULL, 0)", `n${i}`);
    await this.ctx.storage.setAlarm(Date.now() + 1);
  }
  override async alarm(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const job = sql.exec<{ n: number; latch: string }>("SELECT * FROM job").one();
    for (let i = 0; i < job.n; i++) {
      for (const status of ["running", "succeeded"]) {
        const seq = sql
          .exec<{ seq: number }>(
            "INSERT INTO events (seq, type, node_id, attempt, at, data) VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM events), ?, ?, 1, ?, '{}') RETURNING seq",
            `node.${status}`,
            `n${i}`,
            Date.now(),
          )
          .one().seq;
        sql.exec("INSERT INTO dirty VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET seq = excluded.seq", `n${i}`, seq);
        sql.exec(
          "UPDATE nodes SET status = ?, attempt = 1, output = ?, seq = ? WHERE id = ?",
          status,
          status === "succeeded" ? String(i) : null,
          seq,
          `n${i}`,
        );
        sql.exec("UPDATE execution SET flush_due_at = ?", Date.now());
        // The engine yields to the event loop between an attempt's start and its result.
        await Promise.resolve();
      }
    }
    await this.env.LATCH.get(this.env.LATCH.idFromName(job.latch)).release();
  }
}

interface Received {
  at: number;
  seq: number;
  type: string;
  sent: number;
}

/** A subscriber held inside workerd, so broadcast timing has no harness or dev-proxy hop in it. */
interface Client {
  ws: WebSocket;
  /** Arrival time and text of every message. */
  raw: [number, string][];
  /** Resolves once `n` messages have arrived. */
  arrived(n: number): Promise<void>;
  closed: Promise<void>;
}

/**
 * Clients share the thread with the object they watch, so a message handler only stamps the arrival (parsing waits
 * for the end) and completion is signalled, not polled: the harness takes no turns away from the object timed.
 */
async function openClients(n: number, open: () => Promise<Response> | Response): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) {
    const res = await open();
    const ws = res.webSocket;
    if (!ws) throw new Error(`subscriber ${i}: HTTP ${res.status} ${await res.text()}`);
    const raw: [number, string][] = [];
    let target = Infinity;
    let reached = (): void => undefined;
    ws.addEventListener("message", (m) => {
      if (raw.push([Date.now(), m.data as string]) >= target) reached();
    });
    const closed = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
    const arrived = (count: number) =>
      raw.length >= count ? Promise.resolve() : new Promise<void>((resolve) => ((target = count), (reached = resolve)));
    ws.accept();
    clients.push({ ws, raw, arrived, closed });
  }
  return clients;
}

function parsed(c: Client): Received[] {
  return c.raw.map(([at, data]) => {
    const e = JSON.parse(data) as { seq: number; type: string; at: string };
    return { at, seq: e.seq, type: e.type, sent: Date.parse(e.at) };
  });
}

async function within<T>(work: Promise<T>, timeoutMs = 60_000): Promise<T> {
  const timer = new AbortController();
  const timeout = scheduler
    .wait(timeoutMs, { signal: timer.signal })
    .then(() => Promise.reject(new Error("broadcast scenario timed out")));
  return Promise.race([work, timeout]).finally(() => timer.abort());
}

/**
 * Per event, the slowest subscriber's delay (arrival - event.at), for the harness to pool across runs; events fanned
 * out per second; the three slowest events, to say where a tail comes from.
 */
function figures(received: Received[][], fromSeq: number) {
  const slowest = new Map<number, { ms: number; type: string }>();
  let first = Infinity;
  let last = 0;
  for (const got of received) {
    for (const r of got) {
      if (r.seq <= fromSeq) continue;
      if ((slowest.get(r.seq)?.ms ?? -1) < r.at - r.sent) slowest.set(r.seq, { ms: r.at - r.sent, type: r.type });
      first = Math.min(first, r.sent);
      last = Math.max(last, r.at);
    }
  }
  const worst = [...slowest]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 3)
    .map(([seq, s]) => ({ seq, ...s }));
  return {
    lats: [...slowest.values()].map((s) => s.ms),
    per_sec: (slowest.size / Math.max(1, last - first)) * 1000,
    worst,
  };
}

/** Every subscriber saw one unbroken run of seqs. */
function inOrder(received: Received[][]): boolean {
  return received.every((got) => got.every((r, i) => i === 0 || r.seq === (got[i - 1] as Received).seq + 1));
}

async function broadcastEngine(url: URL, env: BenchEnv, ctx: ExecutionContext, n: number) {
  const q = (k: string) => url.searchParams.get(k) ?? "";
  const call = (path: string, init: RequestInit) => worker.fetch(new Request(`${url.origin}${path}`, init), env, ctx);
  const auth = { authorization: `Bearer ${q("key")}` };
  const started = (await (
    await call(`/v1/workflows/${q("workflow")}/executions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{}",
    })
  ).json()) as { id: string };
  const clients = await openClients(n, () =>
    call(`/v1/executions/${started.id}/stream`, { headers: { ...auth, upgrade: "websocket" } }),
  );
  // Not timed yet: every subscriber is live once it has seen the gate wait.
  const waiting = (c: Client) => c.raw.some(([, data]) => data.includes('"type":"node.waiting"'));
  for (let tries = 0; !clients.every(waiting); tries++) {
    if (tries > 6000) throw new Error("subscribers never saw the gate wait");
    await scheduler.wait(10);
  }
  const fromSeq = Math.max(...parsed(clients[0] as Client).map((r) => r.seq));
  await call(`/v1/executions/${started.id}/events`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "go" }),
  });
  // The execution closes every stream (1000) after its last event.
  await within(Promise.all(clients.map((c) => c.closed)));
  const received = clients.map(parsed);
  const ended = received.every((got) => got.at(-1)?.type === "execution.succeeded");
  const f = figures(received, fromSeq);
  return { ...f, events: f.lats.length, complete: ended && inOrder(received) };
}

async function broadcastFloor(env: BenchEnv, n: number, events: number, persist = false) {
  const floor = env.BROADCAST_FLOOR.get(env.BROADCAST_FLOOR.idFromName(crypto.randomUUID()));
  const clients = await openClients(n, () => floor.fetch("https://floor/ws", { headers: { upgrade: "websocket" } }));
  await floor.burst(events, persist);
  await within(Promise.all(clients.map((c) => c.arrived(events))));
  for (const c of clients) c.ws.close(1000);
  const received = clients.map(parsed);
  return { ...figures(received, 0), complete: inOrder(received), events };
}

async function firstSocketEvent(res: Response): Promise<void> {
  const ws = res.webSocket;
  if (!ws) throw new Error(`stream: HTTP ${res.status}`);
  const first = new Promise<void>((resolve) => ws.addEventListener("message", () => resolve(), { once: true }));
  ws.accept();
  await first;
  ws.close(1000);
}

async function firstSseEvent(res: Response): Promise<void> {
  const reader = res.body?.getReader();
  if (!res.ok || !reader) throw new Error(`stream: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let text = "";
  while (!/(^|\n)data:/.test(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error("stream ended before its first event");
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
}

const json = (v: unknown) => new Response(JSON.stringify(v), { headers: { "content-type": "application/json" } });

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

export default {
  async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const q = (k: string) => url.searchParams.get(k) ?? "";
    switch (url.pathname) {
      case "/bench/noop":
        return new Response("ok");
      case "/bench/noop-json":
        return json({ ms: 0 });
      case "/bench/do-new": {
        // A call to an ExecutionObject that does not exist yet: the object is made, migrates its schema, answers.
        const ms = await timed(() => executionStub(env, `bench-new-${crypto.randomUUID()}`).ping());
        return json({ ms });
      }
      case "/bench/do-new-bare": {
        // The same to a bare object that never touches its storage: what any new Durable Object costs.
        const floor = env.BROADCAST_FLOOR.get(env.BROADCAST_FLOOR.idFromName(crypto.randomUUID()));
        const ms = await timed(() => floor.burst(0));
        return json({ ms });
      }
      case "/bench/do-noop": {
        const ms = await timed(() => executionStub(env, "bench-noop").ping());
        return json({ ms });
      }
      case "/bench/engine": {
        // Start through the public API (auth, D1, validation, DO start), then await the DO's settled signal: a second
        // call, or with wait=1 the same one (Prefer: wait, which answers the settled execution). Workflows' side
        // likewise starts waiting for its latch before it creates the instance.
        const wait = q("wait") === "1";
        const ms = await timed(async () => {
          const res = await worker.fetch(
            new Request(`${url.origin}/v1/workflows/${q("workflow")}/executions`, {
              method: "POST",
              headers: {
                authorization: `Bearer ${q("key")}`,
                "content-type": "application/json",
                ...(wait ? { prefer: "wait=60" } : {}),
              },
              body: "{}",
            }),
            env,
            ctx,
          );
          if (res.status !== 201) throw new Error(`start: HTTP ${res.status} ${await res.text()}`);
          const { id, status } = (await res.json()) as { id: string; status: string };
          // The RPC stub's inferred return type does not survive ExecutionView's unknown-typed fields.
          const view = wait
            ? { status }
            : ((await executionStub(env, id).settled(q("tenant"), 120_000)) as { status: string } | null);
          if (view?.status !== "succeeded") throw new Error(`engine run ${id} ended ${view?.status}`);
        });
        return json({ ms });
      }
      case "/bench/monitors/seed": {
        // `n` http monitors on `url` every `interval` s, their first checks spread evenly over one interval from
        // `start`, as monitors created over time are. Written straight to D1 in batches (the API is not measured).
        const n = Number(q("n")),
          interval = Number(q("interval")),
          start = Number(q("start"));
        const insert = env.DB.prepare(
          `INSERT INTO monitors (id, tenant_id, name, "check", interval_seconds, failure_threshold, recovery_threshold,
             alert, secret, enabled, status, consecutive_failures, consecutive_successes, next_check_at, created_at,
             updated_at) VALUES (?, 't_monitors', ?, ?, ?, 3, 1, ?, 'whsec_bench', 1, 'unknown', 0, 0, ?, ?, ?)`,
        );
        const check = JSON.stringify({ kind: "http", url: q("url"), method: "GET", timeout_ms: 10_000 });
        const alert = JSON.stringify({ webhook_url: `${q("url")}/hook`, cooldown_seconds: 3600 });
        for (let from = 0; from < n; from += 500) {
          const rows = Array.from({ length: Math.min(500, n - from) }, (_, j) => {
            const i = from + j;
            const due = start + Math.floor((i * interval * 1000) / n);
            return insert.bind(`mon_bench_${i}`, `bench ${i}`, check, interval, alert, due, start, start);
          });
          await env.DB.batch(rows);
        }
        return json({ seeded: n });
      }
      case "/bench/monitors/tick": {
        // One cron tick's monitor work at `now` (checks fanned out to the checker objects, then alerts).
        const t0 = performance.now();
        const r = await runMonitors(env, openDb(env.DB).db, Number(q("now")));
        const ms = performance.now() - t0;
        return json({ ms, checked: r.checked, failed: r.failed.length, first_failure: String(r.failed[0] ?? "") });
      }
      case "/bench/monitors/counts": {
        const [checks] = (
          await env.DB.batch([
            env.DB.prepare(
              "SELECT count(*) AS checks, count(DISTINCT monitor_id) AS monitors, sum(outcome = 'up') AS up FROM monitor_checks",
            ),
          ])
        ).map((r) => r.results[0]);
        return json(checks);
      }
      case "/bench/d1-size": {
        // D1 reports the database's size after each statement (meta.size_after): the file, indexes included.
        const counted = await env.DB.batch(HISTORY_TABLES.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`)));
        const rows = Object.fromEntries(HISTORY_TABLES.map((t, i) => [t, (counted[i]?.results[0] as { n: number }).n]));
        return json({ bytes: counted.at(-1)?.meta.size_after ?? null, rows });
      }
      case "/bench/d1-write": {
        // The projection write rate one D1 sustains: `n` projections of a `nodes`-node execution, `c` at a time.
        const n = Number(q("n")),
          c = Number(q("c")) || 1,
          nodes = Number(q("nodes")) || 3;
        const db = openDb(env.DB).db;
        // via=tenant: as final projections, through the TenantObject's group commit (what ending runs do).
        const tenant = env.TENANT.get(env.TENANT.idFromName("t_capacity"));
        const write = (p: ReturnType<typeof syntheticProjection>) =>
          q("via") === "tenant"
            ? tenant.finish({
                queue: { executionId: p.exec.id, key: null, slots: 1 },
                shard: -1,
                projection: { execution: p.exec, nodes: p.nodes, usage: [], labels: null },
              })
            : projectExecution(db, p.exec, p.nodes);
        let next = 0;
        const ms = await timed(() =>
          Promise.all(
            Array.from({ length: c }, async () => {
              for (let i = next++; i < n; i = next++)
                await write(syntheticProjection(`ex_capacity_${crypto.randomUUID()}`, nodes));
            }),
          ),
        );
        return json({ ms, per_second: n / (ms / 1000) });
      }
      case "/bench/workflows": {
        const latch = crypto.randomUUID();
        const binding = q("shape") === "fan" ? env.FAN : env.CHAIN;
        const ms = await timed(async () => {
          const waiting = env.LATCH.get(env.LATCH.idFromName(latch)).wait();
          await binding.create({ params: { n: Number(q("n")), latch } });
          await waiting;
        });
        return json({ ms });
      }
      case "/bench/workflows-batch": {
        // createBatch takes at most 100 instances a call: n / 100 calls at once, all runs sharing one latch.
        const latch = crypto.randomUUID();
        const n = Number(q("n"));
        const ms = await timed(async () => {
          const waiting = env.LATCH.get(env.LATCH.idFromName(latch)).wait(n);
          await Promise.all(
            Array.from({ length: Math.ceil(n / 100) }, (_, c) =>
              env.CHAIN.createBatch(
                Array.from({ length: Math.min(100, n - c * 100) }, () => ({
                  params: { n: Number(q("steps")), latch },
                })),
              ),
            ),
          );
          await waiting;
        });
        return json({ ms });
      }
      case "/bench/engine-batch": {
        // One batch start through the public API, then every run's settled signal.
        const n = Number(q("n"));
        const ms = await timed(async () => {
          const res = await worker.fetch(
            new Request(`${url.origin}/v1/workflows/${q("workflow")}/executions/batch`, {
              method: "POST",
              headers: { authorization: `Bearer ${q("key")}`, "content-type": "application/json" },
              body: JSON.stringify({ items: Array.from({ length: n }, () => ({ input: {} })) }),
            }),
            env,
            ctx,
          );
          if (res.status !== 200) throw new Error(`batch: HTTP ${res.status} ${await res.text()}`);
          const { items } = (await res.json()) as { items: { id?: string; status: string }[] };
          const views = await Promise.all(
            items.map((i) => {
              if (!i.id || i.status !== "created") throw new Error(`batch item ${i.status}`);
              return executionStub(env, i.id).settled(q("tenant"), 120_000) as Promise<{ status: string } | null>;
            }),
          );
          const failed = views.filter((v) => v?.status !== "succeeded").length;
          if (failed) throw new Error(`${failed} of ${n} batch runs did not succeed`);
        });
        return json({ ms });
      }
      case "/bench/floor": {
        const latch = crypto.randomUUID();
        const ms = await timed(async () => {
          const waiting = env.LATCH.get(env.LATCH.idFromName(latch)).wait();
          await env.FLOOR.get(env.FLOOR.idFromName(latch)).run(Number(q("n")), latch);
          await waiting;
        });
        return json({ ms });
      }
      case "/bench/first-event": {
        // A client's view: POST the execution, then open its stream at once; done when the first event arrives.
        const auth = { authorization: `Bearer ${q("key")}` };
        const call = (path: string, init: RequestInit) =>
          worker.fetch(new Request(`${url.origin}${path}`, init), env, ctx);
        const ms = await timed(async () => {
          const res = await call(`/v1/workflows/${q("workflow")}/executions`, {
            method: "POST",
            headers: { ...auth, "content-type": "application/json" },
            body: "{}",
          });
          if (res.status !== 201) throw new Error(`start: HTTP ${res.status} ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          if (q("transport") === "ws")
            await firstSocketEvent(
              await call(`/v1/executions/${id}/stream`, { headers: { ...auth, upgrade: "websocket" } }),
            );
          if (q("transport") === "sse")
            await firstSseEvent(
              await call(`/v1/executions/${id}/stream`, { headers: { ...auth, accept: "text/event-stream" } }),
            );
        });
        return json({ ms });
      }
      case "/bench/broadcast": {
        const n = Number(q("n"));
        const events = Number(q("events"));
        if (q("mode") === "edgeflow") return json(await broadcastEngine(url, env, ctx, n));
        return json(await broadcastFloor(env, n, events, q("mode") === "persisted"));
      }
      default:
        return worker.fetch(request, env, ctx);
    }
  },
} satisfies ExportedHandler<BenchEnv>;

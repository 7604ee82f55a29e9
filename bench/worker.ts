// The bench Worker: Edgeflow's real worker plus its baselines (Cloudflare Workflows, a floor DO, a no-op route),
// so every scenario runs in the same workerd. Completion is signalled (DO RPC / latch), never polled.
import { DurableObject, WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import worker from "../src/worker";
import { executionStub } from "../src/durable/client";

export { ExecutionObject, MetricsObject, TenantObject } from "../src/worker";

interface BenchEnv extends Env {
  CHAIN: Workflow<{ n: number; latch: string }>;
  FAN: Workflow<{ n: number; latch: string }>;
  LATCH: DurableObjectNamespace<Latch>;
  FLOOR: DurableObjectNamespace<FloorObject>;
  BROADCAST_FLOOR: DurableObjectNamespace<BroadcastFloor>;
}

/** The broadcast floor: a bare DO with hibernatable sockets that only does getWebSockets().forEach(send). */
export class BroadcastFloor extends DurableObject<BenchEnv> {
  override async fetch(): Promise<Response> {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
  async burst(n: number): Promise<void> {
    for (let seq = 1; seq <= n; seq++) {
      const msg = JSON.stringify({ seq, type: "floor", at: new Date().toISOString(), data: {} });
      this.ctx.getWebSockets().forEach((ws) => ws.send(msg));
      // Paced like the engine with subscribers attached: one macrotask per step, so neither side is timed
      // on a burst that queues every message behind the previous ones.
      await scheduler.wait(0);
    }
  }
}

/** Resolves `wait()` once `release()` is called: how a baseline tells the harness it finished. */
export class Latch extends DurableObject<BenchEnv> {
  private released = false;
  private waiters: (() => void)[] = [];
  async wait(): Promise<void> {
    if (!this.released) await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    this.released = true;
    for (const w of this.waiters) w();
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
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT, node_id TEXT, attempt INTEGER, at INTEGER, data TEXT);
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
        const seq = sql.exec<{ seq: number }>(
          "INSERT INTO events (seq, type, node_id, attempt, at, data) VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM events), ?, ?, 1, ?, '{}') RETURNING seq",
          `node.${status}`, `n${i}`, Date.now(),
        ).one().seq;
        sql.exec("INSERT INTO dirty VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET seq = excluded.seq", `n${i}`, seq);
        sql.exec("UPDATE nodes SET status = ?, attempt = 1, output = ?, seq = ? WHERE id = ?", status, status === "succeeded" ? String(i) : null, seq, `n${i}`);
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

/** WebSocket clients held inside workerd, so broadcast timing has no harness or dev-proxy hop in it. */
async function openClients(n: number, open: () => Promise<Response>): Promise<{ ws: WebSocket; got: Received[] }[]> {
  const clients = [];
  for (let i = 0; i < n; i++) {
    const res = await open();
    const ws = res.webSocket;
    if (!ws) throw new Error(`subscriber ${i}: HTTP ${res.status} ${await res.text()}`);
    const got: Received[] = [];
    ws.addEventListener("message", (m) => {
      const e = JSON.parse(m.data as string) as { seq: number; type: string; at: string };
      got.push({ at: Date.now(), seq: e.seq, type: e.type, sent: Date.parse(e.at) });
    });
    ws.accept();
    clients.push({ ws, got });
  }
  return clients;
}

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("broadcast scenario timed out");
    await scheduler.wait(1);
  }
}

/** Per event, the slowest subscriber's delay (arrival - event.at); plus events fanned out per second. */
function figures(clients: { got: Received[] }[], fromSeq: number) {
  const slowest = new Map<number, number>();
  let first = Infinity;
  let last = 0;
  for (const c of clients) {
    for (const r of c.got) {
      if (r.seq <= fromSeq) continue;
      slowest.set(r.seq, Math.max(slowest.get(r.seq) ?? 0, r.at - r.sent));
      first = Math.min(first, r.sent);
      last = Math.max(last, r.at);
    }
  }
  const lats = [...slowest.values()].sort((a, b) => a - b);
  const q = (p: number) => lats[Math.min(lats.length - 1, Math.ceil(p * lats.length) - 1)] ?? NaN;
  return { events: lats.length, p50: q(0.5), p99: q(0.99), per_sec: (lats.length / Math.max(1, last - first)) * 1000 };
}

async function broadcastEngine(url: URL, env: BenchEnv, ctx: ExecutionContext, n: number) {
  const q = (k: string) => url.searchParams.get(k) ?? "";
  const call = (path: string, init: RequestInit) => worker.fetch(new Request(`${url.origin}${path}`, init), env, ctx);
  const auth = { authorization: `Bearer ${q("key")}` };
  const started = (await (await call(`/v1/workflows/${q("workflow")}/executions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" })).json()) as { id: string };
  const clients = await openClients(n, () => call(`/v1/executions/${started.id}/stream`, { headers: { ...auth, upgrade: "websocket" } }));
  await until(() => clients.every((c) => c.got.some((r) => r.type === "node.waiting")));
  const fromSeq = Math.max(...clients[0]!.got.map((r) => r.seq));
  await call(`/v1/executions/${started.id}/events`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ name: "go" }) });
  await until(() => clients.every((c) => c.got.some((r) => r.type === "execution.succeeded")));
  const complete = clients.every((c) => c.got.map((r) => r.seq).every((s, i, all) => i === 0 || s === (all[i - 1] as number) + 1));
  for (const c of clients) c.ws.close(1000);
  return { ...figures(clients, fromSeq), complete };
}

async function broadcastFloor(env: BenchEnv, n: number, events: number) {
  const floor = env.BROADCAST_FLOOR.get(env.BROADCAST_FLOOR.idFromName(crypto.randomUUID()));
  const clients = await openClients(n, () => floor.fetch("https://floor/ws", { headers: { upgrade: "websocket" } }));
  await floor.burst(events);
  await until(() => clients.every((c) => c.got.length >= events));
  for (const c of clients) c.ws.close(1000);
  return { ...figures(clients, 0), complete: true };
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
      case "/bench/do-noop": {
        const ms = await timed(() => executionStub(env, "bench-noop").ping());
        return json({ ms });
      }
      case "/bench/engine": {
        // Start through the public API (auth, D1, validation, DO start), then await the DO's settled signal.
        const ms = await timed(async () => {
          const res = await worker.fetch(
            new Request(`${url.origin}/v1/workflows/${q("workflow")}/executions`, {
              method: "POST",
              headers: { authorization: `Bearer ${q("key")}`, "content-type": "application/json" },
              body: "{}",
            }),
            env,
            ctx,
          );
          if (res.status !== 201) throw new Error(`start: HTTP ${res.status} ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          const view = await executionStub(env, id).settled(q("tenant"), 120_000);
          if (view?.status !== "succeeded") throw new Error(`engine run ${id} ended ${view?.status}`);
        });
        return json({ ms });
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
        const call = (path: string, init: RequestInit) => worker.fetch(new Request(`${url.origin}${path}`, init), env, ctx);
        const ms = await timed(async () => {
          const res = await call(`/v1/workflows/${q("workflow")}/executions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" });
          if (res.status !== 201) throw new Error(`start: HTTP ${res.status} ${await res.text()}`);
          const { id } = (await res.json()) as { id: string };
          if (q("transport") === "ws") await firstSocketEvent(await call(`/v1/executions/${id}/stream`, { headers: { ...auth, upgrade: "websocket" } }));
          if (q("transport") === "sse") await firstSseEvent(await call(`/v1/executions/${id}/stream`, { headers: { ...auth, accept: "text/event-stream" } }));
        });
        return json({ ms });
      }
      case "/bench/broadcast": {
        const n = Number(q("n"));
        const ours = await broadcastEngine(url, env, ctx, n);
        const floor = await broadcastFloor(env, n, ours.events);
        return json({ ours, floor });
      }
      default:
        return worker.fetch(request, env, ctx);
    }
  },
} satisfies ExportedHandler<BenchEnv>;

// Gate 1: crash at every step. Each DAG shape runs once without faults, then once per boundary × fault kind:
// the object is held at the boundary and crashed there (hard: abortAllDurableObjects; graceful: the handler ends at
// the boundary and evictDurableObject evicts the idle object), then its alarms are driven until the run ends.
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { installCrashHook, PlannedStop, type CrashPoint, type CrashSite } from "../../src/durable/faults";
import { client, createTenant, target, targetCalls, waitFor, type Client } from "../support/api";
import { reportGate } from "../support/gates";

type Node = Record<string, unknown> & { id: string };

/** An http side effect deduped by Idempotency-Key; attempts up to `fail` answer `status`. */
const http = (
  id: string,
  needs: string[] = [],
  o: { fail?: number; status?: number; retries?: number; extra?: Record<string, unknown> } = {},
): Node => ({
  id,
  kind: "http",
  needs,
  config: {
    method: "POST",
    url: target(`/attempt/{{ execution.id }}-${id}?fail=${o.fail ?? 0}&status=${o.status ?? 503}`),
    body: { node: id },
  },
  retry: { max_attempts: o.retries ?? 3, initial_delay_ms: 5, jitter: false },
  ...o.extra,
});
const tf = (id: string, needs: string[], expression: string, extra: Record<string, unknown> = {}): Node => ({
  id,
  kind: "transform",
  needs,
  config: { expression },
  ...extra,
});

interface Shape {
  name: string;
  nodes: Node[];
  event?: string;
  child?: Node[];
}

const SHAPES: Shape[] = [
  { name: "single", nodes: [http("a")] },
  { name: "chain-3", nodes: [http("a"), http("b", ["a"]), http("c", ["b"])] },
  {
    name: "chain-5 mixed",
    nodes: [
      http("a"),
      tf("b", ["a"], "nodes.a.output.status"),
      http("c", ["b"]),
      tf("d", ["c"], "nodes.b.output + 1"),
      http("e", ["d"]),
    ],
  },
  { name: "fan-out", nodes: [http("a"), http("b", ["a"]), http("c", ["a"]), http("d", ["a"])] },
  {
    name: "fan-in",
    nodes: [
      http("a"),
      http("b"),
      http("c"),
      tf("d", ["a", "b", "c"], "[nodes.a.output.status, nodes.b.output.status, nodes.c.output.status]"),
    ],
  },
  { name: "diamond", nodes: [http("a"), http("b", ["a"]), http("c", ["a"]), http("d", ["b", "c"])] },
  {
    name: "wide fan-out/fan-in",
    nodes: [
      http("a"),
      ...["b", "c", "d", "e", "f"].map((x) => http(x, ["a"])),
      tf("g", ["b", "c", "d", "e", "f"], "1"),
    ],
  },
  {
    name: "conditional skip",
    nodes: [http("a"), http("b", ["a"], { extra: { when: "nodes.a.output.status = 500" } }), http("c", ["b"])],
  },
  {
    name: "conditional take",
    nodes: [http("a"), http("b", ["a"], { extra: { when: "nodes.a.output.status = 200" } }), http("c", ["b"])],
  },
  { name: "retrying node", nodes: [http("a"), http("b", ["a"], { fail: 2 }), http("c", ["b"])] },
  { name: "retries exhausted", nodes: [http("a"), http("b", ["a"], { fail: 5, retries: 2 }), http("c", ["b"])] },
  { name: "failing node (fatal)", nodes: [http("a"), http("b", ["a"], { fail: 9, status: 404 }), http("c", ["b"])] },
  {
    name: "continue on failure",
    nodes: [http("a", [], { fail: 9, status: 404, extra: { continue_on_failure: true } }), http("b", ["a"])],
  },
  {
    name: "sleep",
    nodes: [http("a"), { id: "s", kind: "sleep", needs: ["a"], config: { duration_ms: 30 } }, http("b", ["s"])],
  },
  {
    name: "wait for event",
    event: "go",
    nodes: [
      http("a"),
      { id: "w", kind: "wait_for_event", needs: ["a"], config: { event: "go", timeout_ms: 60_000 } },
      http("b", ["w"]),
    ],
  },
  {
    name: "transforms only",
    nodes: [tf("a", [], "1"), tf("b", ["a"], "nodes.a.output + 1"), tf("c", ["b"], "nodes.b.output * 3")],
  },
  {
    name: "two parallel chains",
    nodes: [http("a"), http("b", ["a"]), http("x"), http("y", ["x"]), tf("z", ["b", "y"], "2")],
  },
  { name: "retry then fan-out", nodes: [http("a", [], { fail: 1 }), http("b", ["a"]), http("c", ["a"], { fail: 1 })] },
  {
    name: "map over items",
    nodes: [
      http("a"),
      {
        id: "m",
        kind: "map",
        needs: ["a"],
        config: {
          items: "[1, 2, 3]",
          max_concurrency: 2,
          node: {
            kind: "http",
            config: {
              method: "POST",
              url: target("/attempt/{{ execution.id }}-m{{ index }}"),
              body: { i: "{{ item }}" },
            },
          },
        },
      },
    ],
  },
  {
    name: "sub-workflow",
    nodes: [
      http("a"),
      { id: "sub", kind: "workflow", needs: ["a"], config: { workflow_id: "$CHILD", input: { n: 2 } } },
      http("b", ["sub"]),
    ],
    child: [http("c1"), tf("c2", ["c1"], "input.n * 2")],
  },
  {
    name: "skip propagation",
    nodes: [http("a"), tf("b", ["a"], "1", { when: "false" }), http("c", ["b"]), http("d", ["a"])],
  },
];

// Volatile fields (times, echoed headers, ids) are not part of the state compared with the fault-free run.
const VOLATILE = new Set([
  "headers",
  "woke_at",
  "received_at",
  "execution_id",
  "started_at",
  "finished_at",
  "at",
  "next_attempt_at",
]);
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, x]) => [k, stable(x)]),
    );
  return v;
}
const finalState = (view: any) =>
  stable({
    status: view.status,
    error: view.error?.code ?? null,
    output: view.output,
    nodes: view.nodes.map((n: any) => ({
      id: n.node_id,
      status: n.status,
      attempts: n.attempts,
      error: n.error?.code ?? null,
      output: n.output,
    })),
  });

const COMPLETIONS = new Set(["node.succeeded", "node.failed", "node.skipped", "node.cancelled", "node.retrying"]);
const TERMINAL = new Set(["node.succeeded", "node.failed", "node.skipped", "node.cancelled"]);

async function events(api: Client, id: string): Promise<any[]> {
  return (await api.get(`/v1/executions/${id}/events?after=0&limit=1000`)).body.data;
}

/** Start with an Idempotency-Key and, like a client, retry on a 5xx until the start is acknowledged. */
async function start(api: Client, wf: string, key: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const res = await api.raw("POST", `/v1/workflows/${wf}/executions`, { input: {} }, { "idempotency-key": key });
    if (res.status === 201 || res.status === 200) return res.body.id;
    if (res.status !== 503 && res.status !== 409)
      throw new Error(`start answered ${res.status}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("start never acknowledged");
}

/** Run every alarm of the execution (and its children) until it ends. */
async function driveToEnd(api: Client, id: string): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const view = (await api.get(`/v1/executions/${id}`)).body;
    if (["succeeded", "failed", "cancelled", "timed_out"].includes(view.status)) return waitFor(api, id);
    const children = view.nodes.flatMap((n: any) =>
      n.kind === "workflow" && n.output?.execution_id ? [n.output.execution_id] : [],
    );
    const kids = (await api.get(`/v1/executions?limit=20&status=running`)).body.data.map((e: any) => e.id);
    for (const x of [id, ...children, ...kids]) await runDurableObjectAlarm(executionStub(env, x));
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`execution ${id} never ended`);
}

async function evictWhenIdle(id: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await evictDurableObject(executionStub(env, id));
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`could not evict ${id}`);
}

/** Every (node, attempt) the run made, map items included (as "<node>[<index>]"). */
async function attemptsOf(api: Client, id: string): Promise<{ node_id: string; attempt: number }[]> {
  const nodes = (await events(api, id))
    .filter((e) => e.type === "node.started")
    .map((e) => ({ node_id: e.node_id as string, attempt: e.attempt as number }));
  const view = (await api.get(`/v1/executions/${id}`)).body;
  for (const m of view.nodes.filter((n: any) => n.kind === "map")) {
    const items = (await api.get(`/v1/executions/${id}/nodes/${m.node_id}/items?limit=1000`)).body.data as {
      index: number;
      attempts: number;
    }[];
    for (const item of items)
      for (let a = 1; a <= item.attempts; a++) nodes.push({ node_id: `${m.node_id}[${item.index}]`, attempt: a });
  }
  return nodes;
}

interface Boundary {
  point: CrashPoint;
  node_id?: string;
  attempt?: number;
}

describe("gate: crash at every step", () => {
  it("ends every crashed run exactly as its fault-free run, with no lost or duplicated completion", async () => {
    const figures = { runs: 0, lost: 0, duplicated: 0, mismatched: 0, sideEffects: 0 };
    const problems: string[] = [];
    let k = 0;
    for (const shape of SHAPES) {
      // Each shape gets its own tenant, so running-execution limits and listings never mix shapes.
      const api = client((await createTenant()).token);
      let nodes = shape.nodes;
      if (shape.child) {
        const child = (await api.post("/v1/workflows", { name: `${shape.name} child`, nodes: shape.child })).body.id;
        nodes = JSON.parse(JSON.stringify(nodes).replace("$CHILD", child));
      }
      const created = await api.post("/v1/workflows", { name: shape.name, nodes });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const wf = created.body.id;

      const base = await start(api, wf, `base-${++k}`);
      if (shape.event) await api.post(`/v1/executions/${base}/events`, { name: shape.event });
      const expected = finalState(await driveToEnd(api, base));
      const boundaries: Boundary[] = [
        { point: "start.before" },
        { point: "start.stored" },
        ...(await attemptsOf(api, base)).flatMap((a) =>
          (["attempt.returned", "completion.stored"] as const).map((point) => ({ point, ...a })),
        ),
      ];

      for (const boundary of boundaries) {
        for (const fault of ["abort", "evict"] as const) {
          const label = `${shape.name} @ ${boundary.point}${boundary.node_id ? ` ${boundary.node_id}#${boundary.attempt}` : ""} (${fault})`;
          let hit: CrashSite | null = null;
          installCrashHook((site) => {
            if (
              hit ||
              site.point !== boundary.point ||
              (boundary.node_id && (site.node_id !== boundary.node_id || site.attempt !== boundary.attempt))
            )
              return;
            hit = site;
            // Hard crash: hold here until the object is aborted. Graceful: end the handler here, then evict it idle.
            if (fault === "abort") return new Promise<void>(() => undefined);
            throw new PlannedStop(`crash test: handler ends at ${site.point}`);
          });
          const key = `run-${++k}`;
          // The event goes out as soon as the start is acknowledged, as a client would send it.
          const starting = start(api, wf, key).then(
            async (id) => {
              if (shape.event) await api.post(`/v1/executions/${id}/events`, { name: shape.event });
              return id;
            },
            (e) => e as Error,
          );
          for (let i = 0; i < 500 && !hit; i++) await new Promise((r) => setTimeout(r, 5));
          if (!hit) {
            installCrashHook(null);
            problems.push(`${label}: boundary never reached`);
            continue;
          }
          const site = hit as CrashSite;
          if (fault === "abort") await abortAllDurableObjects();
          else await evictWhenIdle(site.execution_id);
          installCrashHook(null);
          const started = await starting;
          const id = typeof started === "string" ? started : await start(api, wf, key);
          const done = await driveToEnd(api, id);
          figures.runs++;

          if (JSON.stringify(finalState(done)) !== JSON.stringify(expected)) {
            figures.mismatched++;
            problems.push(`${label}: final state ${JSON.stringify(finalState(done))} != ${JSON.stringify(expected)}`);
          }
          const log = await events(api, id);
          if (log.some((e, i) => e.seq !== i + 1)) problems.push(`${label}: seq gap`);
          const perAttempt = new Map<string, number>();
          for (const e of log.filter((x) => COMPLETIONS.has(x.type)))
            perAttempt.set(`${e.node_id}#${e.attempt}`, (perAttempt.get(`${e.node_id}#${e.attempt}`) ?? 0) + 1);
          const dup = [...perAttempt].filter(([, n]) => n > 1);
          figures.duplicated += dup.length;
          if (dup.length) problems.push(`${label}: duplicated completions ${JSON.stringify(dup)}`);
          const lost = done.nodes.filter(
            (n: any) => log.filter((e) => e.node_id === n.node_id && TERMINAL.has(e.type)).length !== 1,
          );
          const execEnds = log.filter(
            (e) =>
              e.type.startsWith("execution.") &&
              ["succeeded", "failed", "cancelled", "timed_out"].includes(e.type.slice(10)),
          ).length;
          figures.lost += lost.length + (execEnds === 1 ? 0 : 1);
          if (lost.length || execEnds !== 1)
            problems.push(`${label}: lost completions ${lost.map((n: any) => n.node_id)} / ${execEnds} execution ends`);

          // The target's view: one key per node across its attempts, and never a second side effect for a node.
          for (const n of done.nodes.filter((x: any) => x.kind === "http")) {
            const seen = await targetCalls(`${id}-${n.node_id}`);
            const attempts = new Set(Array.from({ length: n.attempts }, (_, i) => String(i + 1)));
            const stray = seen.calls.filter(
              (c) => c.idempotency_key !== `${id}:${n.node_id}` || !attempts.has(c.attempt ?? ""),
            );
            const effects = Object.keys(seen.effects).length;
            if (stray.length || effects > 1) {
              figures.sideEffects++;
              problems.push(
                `${label}: node ${n.node_id} keys ${JSON.stringify(seen.calls.map((c) => c.idempotency_key))}, ${effects} effects`,
              );
            }
            // A completion already stored is never re-run: the node was called exactly as often as without the crash.
            if (
              boundary.point === "completion.stored" &&
              n.node_id === boundary.node_id &&
              seen.calls.length !== n.attempts
            ) {
              figures.sideEffects++;
              problems.push(
                `${label}: node ${n.node_id} re-ran after its completion was stored (${seen.calls.length} calls for ${n.attempts} attempts)`,
              );
            }
          }
        }
      }
    }
    await reportGate(
      "crash-matrix",
      `${SHAPES.length} shapes, ${figures.runs} crashed runs (hard and graceful), ${figures.lost} lost, ${figures.duplicated} duplicated, ${figures.mismatched} differing from the fault-free run, ${figures.sideEffects} extra side effects`,
    );
    expect(problems).toEqual([]);
    expect(SHAPES.length).toBeGreaterThanOrEqual(20);
  }, 900_000);

  it("frees a concurrency key and a running slot whose release a crash lost, within the lease bound", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "keyed",
        concurrency_key: "one-at-a-time",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const tenant = env.TENANT.get(env.TENANT.idFromName(tenantId));
    const rounds = 3;
    const waits: number[] = [];
    const problems: string[] = [];
    for (let round = 0; round < rounds; round++) {
      // Terminal state committed, release not delivered: the object dies holding both the key and its slot.
      let crashed: string | null = null;
      installCrashHook((site) => {
        if (site.point !== "release.before" || crashed) return;
        crashed = site.execution_id;
        return new Promise<void>(() => undefined);
      });
      const first = await start(api, wf, `lost-release-${round}`);
      for (let i = 0; i < 500 && !crashed; i++) await new Promise((r) => setTimeout(r, 5));
      await abortAllDurableObjects();
      installCrashHook(null);
      if (crashed !== first) problems.push(`round ${round}: the release boundary was not reached`);
      expect((await waitFor(api, first)).status).toBe("succeeded");

      // The next execution with the same key starts once the release is retried (it rides on the final projection,
      // which the restarted object's alarm writes again) or, failing that, once the lost holder's lease is stale.
      const crashedAt = Date.now();
      const next = await start(api, wf, `after-lost-release-${round}`);
      const done = await waitFor(api, next, ["succeeded", "failed"], 30_000);
      waits.push(Date.parse(done.started_at) - crashedAt);
      if (done.status !== "succeeded") problems.push(`round ${round}: the next execution ${done.status}`);
    }
    // Both finished and released normally, the lost holder was dropped: the tenant's running count is true again.
    const leftover = await tenant.queued("__running__");
    const bound = 2_000 + 5_000 + 1_000; // KEY_LEASE_SECONDS in tests + one queue poll + slack
    await reportGate(
      "lost-release",
      `${rounds} releases lost at the crash boundary; next execution with the key started after ${Math.max(...waits)} ms at most (bound ${bound} ms); running slots left held: ${leftover}`,
    );
    expect(problems).toEqual([]);
    expect(Math.max(...waits)).toBeLessThan(bound);
    expect(leftover).toBe(0);
  }, 120_000);
});

// Gate 5 over real sockets: the malformed-input gate's requests (test/support/malformed-requests.ts) sent to a real
// `npm start` (wrangler's dev server, its proxy and workerd), 25 at a time, as a client on the network would send them. Every
// request must get an answer: a connection closed without a status line fails the gate like a 5xx.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callLocal, copyOfRepo, startLocal, type LocalServer } from "../support/local-server";
import { startTargetServer } from "../support/target-server";
import { fuzzedOperations, Gen, mutatedRequest, Tally, validRequest, type Req } from "../support/malformed-requests";
import {
  bodyFor,
  concretePath,
  operationsOf,
  askingDefinition,
  waitingDefinition,
  type Ids,
  type Op,
  type OpenApiDoc,
} from "../support/operations-doc";
import { prng } from "../support/random";

// FUZZ_PER_ROUTE runs a longer probe by hand; CI runs 40 (about 40 s).
const PER_ROUTE = Number(process.env.FUZZ_PER_ROUTE ?? 40);
const SEED = 20261205;
const CONCURRENCY = 25;

let repo: string;
let local: LocalServer;
let target: Awaited<ReturnType<typeof startTargetServer>>;

beforeAll(async () => {
  // The key's rate limit raised (as an operator would in .dev.vars), so every request reaches the route it probes.
  repo = copyOfRepo("edgeflow-fuzz-");
  writeFileSync(join(repo, ".dev.vars"), 'RATE_LIMIT_PER_MINUTE="1000000"\nRATE_LIMIT_BURST="1000000"\n');
  [local, target] = await Promise.all([startLocal(120_000, repo), startTargetServer()]);
});

afterAll(async () => {
  await Promise.all([local?.stop(), target?.close()]);
  rmSync(repo, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown) => callLocal(local, method, path, body);

async function settledOrWaiting(id: string, node: string, status: string): Promise<void> {
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const view = (await call("GET", `/v1/executions/${id}`)).body;
    if (view.nodes?.find((n: { node_id: string }) => n.node_id === node)?.status === status) return;
  }
  throw new Error(`${id}: node ${node} never ${status}`);
}

/** The same objects the pool's gate aims at, made over the socket API. */
async function ownedObjects(monitor: unknown): Promise<Ids> {
  const owned = (await call("POST", "/v1/workflows", waitingDefinition)).body.id as string;
  const ex = (await call("POST", `/v1/workflows/${owned}/executions`, { input: {} })).body.id as string;
  await settledOrWaiting(ex, "w", "waiting");
  const finished = {
    name: "finished",
    nodes: [
      {
        id: "m",
        kind: "map",
        config: { items: "[1, 2]", node: { kind: "transform", config: { expression: "item" } } },
      },
    ],
  };
  const fwf = (await call("POST", "/v1/workflows", finished)).body.id as string;
  const done = (await call("POST", `/v1/workflows/${fwf}/executions`, { input: {} })).body.id as string;
  await settledOrWaiting(done, "m", "succeeded");
  const sc = (await call("POST", `/v1/workflows/${owned}/schedules`, { cron: "0 0 1 1 *" })).body.id as string;
  const mo = (await call("POST", "/v1/monitors", monitor)).body.id as string;
  await call("PUT", "/v1/secrets/MATRIX_SECRET", { value: "owner-value" });
  // A workflow that finishes at once, so the executions valid requests start do not pile up.
  const wf = (
    await call("POST", "/v1/workflows", {
      name: "fuzz",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    })
  ).body.id as string;
  const cv = (await call("POST", "/v1/conversations", { workflow_id: wf })).body.id as string;
  const asks = (await call("POST", "/v1/workflows", askingDefinition)).body.id as string;
  const asking = (await call("POST", `/v1/workflows/${asks}/executions`, { input: {} })).body.id as string;
  await settledOrWaiting(asking, "ask", "waiting");
  const ap = (await call("GET", `/v1/approvals?execution_id=${asking}`)).body.data?.[0]?.id as string;
  for (const id of [owned, ex, fwf, done, sc, mo, wf, cv, ap])
    expect(id, "an owned object was not created").toBeTruthy();
  return { wf, ex, done, sc, mo, cv, ap };
}

describe("gate: malformed input over real sockets against npm start", () => {
  it("answers every valid and mutated request, 25 at a time, with no 5xx and no connection closed unanswered", async () => {
    const monitor = {
      name: "m",
      check: { kind: "http", url: `${target.url}/status/200/matrix`, timeout_ms: 2000 },
      interval_seconds: 60,
      alert: { webhook_url: `${target.url}/hooks/matrix` },
    };
    const ids = await ownedObjects(monitor);
    const metricsToken = /Bearer (mt_[\w-]+)" \S+\/metrics/.exec(local.output())?.[1];
    expect(metricsToken).toBeTruthy();
    const doc = (await (await fetch(`${local.base}/openapi.json`)).json()) as OpenApiDoc;
    const ops = fuzzedOperations(operationsOf(doc));
    const body = (op: Pick<Op, "method" | "path">, at: Ids) => bodyFor(op, at, monitor);
    const g = new Gen(prng(SEED));
    const tally = new Tally();
    const send = async (req: Req, op: Op) => {
      const headers: Record<string, string> = { authorization: `Bearer ${local.key}`, ...req.headers };
      if (req.path === "/metrics") headers.authorization = `Bearer ${metricsToken}`;
      try {
        const res = await fetch(`${local.base}${req.path}`, {
          method: req.method,
          headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          signal: AbortSignal.timeout(60_000),
        });
        tally.answered(req, op, res.status, res.headers.get("content-type"), await res.text());
      } catch (err) {
        tally.unanswered(req, op, (err as { cause?: unknown }).cause ?? err);
      }
    };
    for (const op of ops) {
      expect(concretePath(op, ids)).toMatch(/^\//);
      const reqs = [
        ...Array.from({ length: PER_ROUTE }, () => validRequest(g, op, ids, body)),
        ...Array.from({ length: PER_ROUTE }, () => mutatedRequest(g, op, ids, body)),
      ];
      for (let i = 0; i < reqs.length; i += CONCURRENCY)
        await Promise.all(reqs.slice(i, i + CONCURRENCY).map((r) => send(r, op)));
    }
    console.log(`gate malformed-input-sockets: ${tally.summary(ops.length, PER_ROUTE, SEED)}`);
    expect(tally.failures()).toEqual([]);
    expect(tally.counts.closed).toBe(0);
    expect(tally.counts.s2xx).toBeGreaterThan(ops.length * PER_ROUTE * 0.3);
  }, 900_000);
});

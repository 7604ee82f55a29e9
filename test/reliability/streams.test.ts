// Gate 4: streams under chaos. Subscribers drop and resume at random over SSE (Last-Event-ID) and WebSocket (after=),
// including across evictions of the execution's object; then 50 executions x 20 subscribers must drop nothing.
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, waitFor, waitForNode, type Client } from "../support/api";
import { reportGate } from "../support/gates";
import { prng } from "../support/random";
import { openSse, poll, socket } from "../support/streams";

const SEED = 4242;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gated chain: it waits for "go", then runs `steps` transform+sleep pairs, so events keep coming for a while. */
function chain(steps: number, napMs: number) {
  const nodes: Record<string, unknown>[] = [{ id: "gate", kind: "wait_for_event", config: { event: "go" } }];
  for (let i = 0; i < steps; i++) {
    nodes.push({
      id: `t${i}`,
      kind: "transform",
      needs: [i === 0 ? "gate" : `s${i - 1}`],
      config: { expression: `${i}` },
    });
    nodes.push({ id: `s${i}`, kind: "sleep", needs: [`t${i}`], config: { duration_ms: napMs } });
  }
  return { name: "stream chaos", nodes };
}

async function startGated(api: Client, wf: string): Promise<string> {
  const id = (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id as string;
  await waitForNode(api, id, "gate", "waiting");
  return id;
}

/**
 * One subscriber that keeps dropping its connection and resuming from the last seq it saw, alternating SSE
 * (Last-Event-ID) and WebSocket (after=), until it has seen the execution's final event.
 */
async function chaoticSubscriber(
  id: string,
  token: string,
  random: () => number,
  stats: { reconnects: number },
): Promise<number[]> {
  const seen: number[] = [];
  for (let round = 0; round < 200; round++) {
    const after = seen.at(-1) ?? 0;
    const keep = 1 + Math.floor(random() * 3);
    if (random() < 0.5) {
      const s = await socket(id, { token, query: { after } });
      await Promise.race([s.until(keep, 5_000).catch(() => undefined), s.closed]);
      seen.push(...s.messages.map((m) => m.seq as number));
      s.ws.close(1000, "chaos");
    } else {
      const s = await openSse(id, { token, ...(after ? { lastEventId: String(after) } : {}) });
      await Promise.race([s.until(keep, 5_000).catch(() => undefined), s.ended]);
      seen.push(...s.events.map((e) => Number(e.id)));
      await s.cancel();
    }
    stats.reconnects++;
    const last = seen.at(-1);
    if (last !== undefined && (await finalSeq(id, token)) === last) return seen;
    await sleep(Math.floor(random() * 15));
  }
  throw new Error(`subscriber of ${id} never saw the end`);
}

async function finalSeq(id: string, token: string): Promise<number | null> {
  const view = (await client(token).get(`/v1/executions/${id}`)).body;
  if (!["succeeded", "failed", "cancelled", "timed_out"].includes(view.status)) return null;
  const log = (await client(token).get(`/v1/executions/${id}/events?limit=1000`)).body.data as { seq: number }[];
  return log.at(-1)?.seq ?? null;
}

function gapsAndDuplicates(seen: number[], last: number): { gaps: number; duplicates: number; disorder: number } {
  const counts = new Map<number, number>();
  let disorder = 0;
  seen.forEach((s, i) => {
    counts.set(s, (counts.get(s) ?? 0) + 1);
    if (i > 0 && s <= (seen[i - 1] as number)) disorder++;
  });
  let gaps = 0;
  for (let s = 1; s <= last; s++) if (!counts.has(s)) gaps++;
  const duplicates = [...counts.values()].reduce((n, c) => n + (c > 1 ? c - 1 : 0), 0);
  return { gaps, duplicates, disorder };
}

describe("gate: streams under chaos", () => {
  it("resumes across random disconnects and evictions with no gap or duplicate; 50 x 20 subscribers drop nothing", async () => {
    const random = prng(SEED);
    const totals = { gaps: 0, duplicates: 0, disorder: 0, dropped: 0, reconnects: 0, evictions: 0, events: 0 };

    // Part 1: 8 executions x 4 chaotic subscribers, with the execution's object evicted at random moments.
    const { token } = await createTenant();
    const api = client(token);
    const wf = (await api.post("/v1/workflows", chain(40, 100))).body.id as string;
    const chaotic = await Promise.all(Array.from({ length: 8 }, () => startGated(api, wf)));
    const runs = chaotic.map(async (id) => {
      const subs = Array.from({ length: 4 }, () => chaoticSubscriber(id, token, random, totals));
      await api.post(`/v1/executions/${id}/events`, { name: "go" });
      // Evict the object a few times while the subscribers come and go (it may be busy; then try again shortly).
      const evictions = (async () => {
        for (let i = 0; i < 3; i++) {
          await sleep(40 + Math.floor(random() * 120));
          try {
            await evictDurableObject(executionStub(env, id));
            totals.evictions++;
          } catch {
            /* busy at that moment: skipped */
          }
        }
      })();
      const seen = await Promise.all(subs);
      await evictions;
      const last = (await finalSeq(id, token)) as number;
      for (const s of seen) {
        const r = gapsAndDuplicates(s, last);
        totals.gaps += r.gaps;
        totals.duplicates += r.duplicates;
        totals.disorder += r.disorder;
      }
    });
    await Promise.all(runs);

    // Part 2: 50 executions x 20 subscribers (10 WebSocket, 10 SSE), spread over tenants to stay inside their limits.
    const tenants = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const t = await createTenant();
        const c = client(t.token);
        return { token: t.token, api: c, wf: (await c.post("/v1/workflows", chain(3, 20))).body.id as string };
      }),
    );
    const executions = (
      await Promise.all(
        tenants.map(async (t) =>
          Promise.all(Array.from({ length: 5 }, async () => ({ t, id: await startGated(t.api, t.wf) }))),
        ),
      )
    ).flat();
    const subscribers = await Promise.all(
      executions.flatMap(({ t, id }) => [
        ...Array.from({ length: 10 }, async () => ({
          id,
          t,
          kind: "ws" as const,
          s: await socket(id, { token: t.token }),
        })),
        ...Array.from({ length: 10 }, async () => ({
          id,
          t,
          kind: "sse" as const,
          s: await openSse(id, { token: t.token }),
        })),
      ]),
    );
    await Promise.all(executions.map(({ t, id }) => t.api.post(`/v1/executions/${id}/events`, { name: "go" })));
    await Promise.all(executions.map(({ t, id }) => waitFor(t.api, id, undefined, 60_000)));
    const finals = new Map(
      await Promise.all(executions.map(async ({ t, id }) => [id, (await finalSeq(id, t.token)) as number] as const)),
    );
    for (const sub of subscribers) {
      const last = finals.get(sub.id) as number;
      const seqs = () =>
        sub.kind === "ws"
          ? sub.s.messages.map((m: any) => m.seq as number)
          : sub.s.events.map((e: any) => Number(e.id));
      await poll(
        () => seqs().at(-1) === last,
        10_000,
        () => `subscriber of ${sub.id} to reach ${last}`,
      ).catch(() => undefined);
      const r = gapsAndDuplicates(seqs(), last);
      totals.dropped += r.gaps;
      totals.duplicates += r.duplicates;
      totals.disorder += r.disorder;
      totals.events += seqs().length;
      if (sub.kind === "ws") expect((await sub.s.closed).code).toBe(1000);
      else await sub.s.ended;
    }

    await reportGate(
      "streams",
      `seed ${SEED}: 32 chaotic subscribers, ${totals.reconnects} disconnect/resumes (SSE Last-Event-ID and WebSocket after=), ${totals.evictions} evictions: ${totals.gaps} gaps, ${totals.duplicates} duplicates, ${totals.disorder} out of order; 50 executions x 20 subscribers: ${totals.events} events delivered, ${totals.dropped} dropped`,
    );
    expect(totals).toMatchObject({ gaps: 0, duplicates: 0, disorder: 0, dropped: 0 });
    expect(totals.evictions).toBeGreaterThan(0);
  }, 600_000);
});

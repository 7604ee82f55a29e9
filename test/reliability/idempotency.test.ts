// Gate 3: Idempotency-Key properties over 1,000 seeded sequences of requests, with concurrent duplicates.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { client, createTenant, type ApiResponse } from "../support/api";
import { reportGate } from "../support/gates";

const RUNS = 1000;
const SEED = 9_2026;

// A sequence is a list of groups run one after another; the requests inside a group are sent at once.
const request = fc.record({ key: fc.integer({ min: 0, max: 2 }), body: fc.integer({ min: 0, max: 1 }) });
const sequence = fc.array(fc.array(request, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 });

describe("gate: idempotency properties", () => {
  it("replays the same key and body, refuses another body, answers in-flight duplicates 409, one execution per key", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "idem",
        nodes: [{ id: "a", kind: "transform", config: { expression: "input.v" } }],
      })
    ).body.id as string;
    const path = `/v1/workflows/${wf}/executions`;
    const stats = {
      sequences: 0,
      requests: 0,
      concurrent: 0,
      created: 0,
      replayed: 0,
      refused: 0,
      inFlight: 0,
      keys: 0,
    };
    let run = 0;

    await fc.assert(
      fc.asyncProperty(sequence, async (groups) => {
        const tag = `s${++run}`;
        stats.sequences++;
        const body = (b: number) => ({ input: { v: b }, tags: [tag] });
        const owners = new Map<number, { body: number; id: string; view: Record<string, unknown> }>();
        for (const group of groups) {
          if (group.length > 1) stats.concurrent += group.length;
          const answers = await Promise.all(
            group.map(async (r) => ({
              r,
              res: await api.post(path, body(r.body), { "idempotency-key": `${tag}-k${r.key}` }),
            })),
          );
          stats.requests += answers.length;
          // The creator of each key is known only from its 201, so read those first.
          for (const { r, res } of answers.filter((a) => a.res.status === 201)) {
            expect(owners.has(r.key), `a second 201 for key ${r.key}`).toBe(false);
            owners.set(r.key, { body: r.body, id: res.body.id, view: res.body });
            stats.created++;
          }
          for (const { r, res } of answers) check(r, res, owners.get(r.key), stats);
        }
        // Once every request has ended, the owner's body replays the very execution, never 409.
        for (const [key, owner] of owners) {
          const res = await api.post(path, body(owner.body), { "idempotency-key": `${tag}-k${key}` });
          stats.requests++;
          expect(res.status).toBe(200);
          expect(pick(res.body)).toEqual(pick(owner.view));
        }
        stats.keys += owners.size;
        const listed = (await api.get(`/v1/executions?tag=${tag}&limit=100`)).body.data as { id: string }[];
        expect(listed.map((e) => e.id).sort()).toEqual([...owners.values()].map((o) => o.id).sort());
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    await reportGate(
      "idempotency",
      `${stats.sequences} sequences (seed ${SEED}), ${stats.requests} requests (${stats.concurrent} sent concurrently), ${stats.keys} keys -> ${stats.keys} executions, ${stats.replayed} identical replays, ${stats.refused} 422 on another body, ${stats.inFlight} 409 in flight, 0 violations`,
    );
  }, 900_000);
});

const pick = (v: Record<string, unknown>) => ({ id: v.id, workflow_id: v.workflow_id, version: v.version });

function check(
  r: { key: number; body: number },
  res: ApiResponse,
  owner: { body: number; id: string; view: Record<string, unknown> } | undefined,
  stats: Record<string, number>,
): void {
  if (res.status === 201) return;
  expect(owner, `key ${r.key} answered ${res.status} with no request having created it`).toBeDefined();
  const o = owner as NonNullable<typeof owner>;
  if (res.status === 200) {
    expect(r.body).toBe(o.body);
    expect(pick(res.body)).toEqual(pick(o.view));
    stats.replayed = (stats.replayed ?? 0) + 1;
  } else if (res.status === 422) {
    expect(r.body).not.toBe(o.body);
    expect(res.body).toMatchObject({ code: "idempotency_key_reused", execution_id: o.id });
    stats.refused = (stats.refused ?? 0) + 1;
  } else if (res.status === 409) {
    expect(r.body).toBe(o.body);
    expect(res.body).toMatchObject({ code: "idempotency_key_in_flight", execution_id: o.id });
    expect(res.headers.get("retry-after")).toBe("1");
    stats.inFlight = (stats.inFlight ?? 0) + 1;
  } else {
    throw new Error(`unexpected ${res.status}: ${JSON.stringify(res.body)}`);
  }
}

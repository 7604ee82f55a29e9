// Gate 5: walk /openapi.json and send every operation valid requests and mutated ones (wrong types, missing
// fields, huge strings, deep nesting, invalid UTF-8, wrong content types, oversized bodies, junk paths and queries).
// The same requests go over real sockets to `npm start` in test/reliability-local/malformed-sockets.test.ts.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant } from "../support/api";
import { reportGate } from "../support/gates";
import { prng } from "../support/random";
import { bodyFor, documentedOperations, ownedObjects, type Op } from "../support/operations";
import { fuzzedOperations, Gen, mutatedRequest, Tally, validRequest, type Req } from "../support/malformed-requests";

const PER_ROUTE = 500;
const SEED = 20261123;

describe("gate: malformed input from the OpenAPI document", () => {
  it("answers every valid and mutated request without a 5xx, with problem+json on every 4xx", async () => {
    let op: Op = { method: "", path: "", query: {}, hasBody: false };
    const { token } = await createTenant();
    const api = client(token);
    const ids = await ownedObjects(api);
    // A workflow that finishes at once, so the executions valid requests start do not pile up.
    ids.wf = (
      await api.post("/v1/workflows", {
        name: "fuzz",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const ops = fuzzedOperations(await documentedOperations());
    const g = new Gen(prng(SEED));
    const tally = new Tally();
    const send = async (req: Req, op: Op) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...req.headers };
      if (req.path === "/metrics") headers.authorization = "Bearer metrics-test-token";
      const res = await exports.default.fetch(`http://edgeflow.test${req.path}`, {
        method: req.method,
        headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
      });
      tally.answered(req, op, res.status, res.headers.get("content-type"), await res.text());
    };
    for (op of ops) {
      const reqs = [
        ...Array.from({ length: PER_ROUTE }, () => validRequest(g, op, ids, bodyFor)),
        ...Array.from({ length: PER_ROUTE }, () => mutatedRequest(g, op, ids, bodyFor)),
      ];
      for (let i = 0; i < reqs.length; i += 25) await Promise.all(reqs.slice(i, i + 25).map((r) => send(r, op)));
    }
    await reportGate("malformed-input", tally.summary(ops.length, PER_ROUTE, SEED));
    expect(tally.failures()).toEqual([]);
    expect(tally.counts.s2xx).toBeGreaterThan(ops.length * PER_ROUTE * 0.3);
  }, 900_000);
});

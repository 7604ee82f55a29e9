// Streamed tokens: node.delta events take their seq in the execution's log while the model answers, are stored a batch
// a row and folded into one row once the attempt ends, and a client resumes them from any seq with no gap and no
// duplicate, across reconnects and an object eviction.
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, waitFor, waitForNode } from "../support/api";
import { openSse, openSocket, socket } from "../support/streams";
import { prng } from "../support/random";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
const story = "The tide came in over the flats, slow and silver, and the gulls rose ahead of it in a long white line.";

async function startStreamed(tier: string, content: string, maxAttempts = 2) {
  const { token } = await createTenant();
  const api = client(token);
  const { executionId } = await run(api, {
    name: "streamed",
    nodes: [
      { id: "go", kind: "wait_for_event", config: { event: "go" } },
      {
        id: "say",
        kind: "llm",
        needs: ["go"],
        retry: { max_attempts: maxAttempts, initial_delay_ms: 10, jitter: false },
        config: { tier, stream: true, max_tokens: 16000, messages: [{ role: "user", content }] },
      },
    ],
  });
  await waitForNode(api, executionId, "go", "waiting");
  return { api, token, executionId };
}

async function streamedRun(tier: string, content: string) {
  const { api, token, executionId } = await startStreamed(tier, content);
  const ws = await socket(executionId, { token, query: { after: 0 } });
  const sse = await openSse(executionId, { token, query: { after: 0 } });
  await api.post(`/v1/executions/${executionId}/events`, { name: "go" });
  const done = await waitFor(api, executionId);
  await Promise.all([ws.closed, sse.ended]);
  return { api, executionId, done, ws, sse };
}

/** The rows of the object's event log that hold streamed text. */
function deltaRows(executionId: string): Promise<{ seq: number; end_seq: number | null }[]> {
  return runInDurableObject(executionStub(env, executionId), (_o, state) =>
    state.storage.sql
      .exec<{ seq: number; end_seq: number | null }>(
        "SELECT seq, end_seq FROM events WHERE type = 'node.delta' ORDER BY seq",
      )
      .toArray(),
  );
}

/**
 * An llm node's final text as a client rebuilds it from deltas, in seq order: the latest attempt's pieces, each put at
 * its offset (a re-run of the attempt after a crash starts again at 0).
 */
function reassemble(deltas: { attempt: number; data: { text: string; offset: number } }[]): string {
  const last = Math.max(...deltas.map((d) => d.attempt));
  let text = "";
  for (const d of deltas) if (d.attempt === last) text = text.slice(0, d.data.offset) + d.data.text;
  return text;
}

describe("llm stream: true", () => {
  for (const [tier, flavor] of [
    ["mid", "OpenAI-compatible"],
    ["strong", "Anthropic"],
  ] as const) {
    it(`logs node.delta pieces with their seq as a ${flavor} model streams, and folds them into one row at the end`, async () => {
      const { api, executionId, done, ws, sse } = await streamedRun(tier, `[[key=${key("stream")}]] ${story}`);
      expect(done.status).toBe("succeeded");
      const final = done.nodes[1].output.text as string;
      expect(final).toBe(`echo: ${story}`);

      // Deltas are events like any other: seq'd, gap-free, before the node's success, on both transports.
      expect(ws.messages.map((m) => m.seq)).toEqual(ws.messages.map((_, i) => i + 1));
      const wsDeltas = ws.messages.filter((m) => m.type === "node.delta");
      expect(wsDeltas.length).toBeGreaterThanOrEqual(2);
      expect(wsDeltas.every((m) => m.node_id === "say" && m.attempt === 1)).toBe(true);
      expect(reassemble(wsDeltas)).toBe(final);
      const succeededAt = ws.messages.findIndex((m) => m.type === "node.succeeded" && m.node_id === "say");
      expect(ws.messages.indexOf(wsDeltas.at(-1))).toBeLessThan(succeededAt);
      const sseDeltas = sse.events.filter((e) => e.data.type === "node.delta");
      expect(sseDeltas.map((e) => e.id)).toEqual(wsDeltas.map((m) => String(m.seq)));

      // Stored a batch a row while streaming, one row once the attempt ended: read back as the very same events.
      const rows = await deltaRows(executionId);
      expect(rows).toEqual([{ seq: wsDeltas[0].seq, end_seq: wsDeltas.at(-1).seq }]);
      const log = (await api.get(`/v1/executions/${executionId}/events?after=0&limit=1000`)).body.data;
      expect(log).toEqual(ws.messages);
      // A page that ends inside the span, and one that starts inside it.
      const mid = wsDeltas[Math.floor(wsDeltas.length / 2)].seq;
      const head = (await api.get(`/v1/executions/${executionId}/events?after=0&limit=${mid}`)).body.data;
      const tail = (await api.get(`/v1/executions/${executionId}/events?after=${mid}&limit=1000`)).body.data;
      expect([...head, ...tail]).toEqual(ws.messages);
    });
  }

  it("retries an answer whose stream broke off before the end; the retry's text starts afresh under its attempt", async () => {
    const { done, ws } = await streamedRun("mid", `[[key=${key("cut")}]] [[stream_cut=1]] ${story}`);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[1].attempts).toBe(2);
    const final = done.nodes[1].output.text as string;
    expect(final).toBe(`echo: ${story}`);
    const deltas = ws.messages.filter((m) => m.type === "node.delta");
    expect(new Set(deltas.map((d) => d.attempt))).toEqual(new Set([1, 2]));
    expect(reassemble(deltas)).toBe(final);
  });

  it(
    "reassembles the text byte for byte through 200 random disconnects, a crash and an eviction mid-stream",
    { timeout: 120_000 },
    async () => {
      const random = prng(31);
      const { api, token, executionId } = await startStreamed(
        "mid",
        `[[key=${key("resume")}]] [[needs_tokens=1500]] tell me a long story`,
        3,
      );
      await api.post(`/v1/executions/${executionId}/events`, { name: "go" });
      const seen: any[] = [];
      let last = 0;
      let crashed = false;
      let evicted = false;
      let finished = false;
      for (let cut = 0; cut < 200 || !finished; cut++) {
        // Alternate transports; each reads a random handful of events (or none) and drops the connection.
        const want = Math.floor(random() * 6);
        let got: any[] = [];
        if (cut % 2 === 0) {
          const sse = await openSse(executionId, { token, lastEventId: String(last) });
          expect(sse.response.status).toBe(200);
          await Promise.race([sse.until(want, 2_000).catch(() => undefined), sse.ended]);
          await sse.cancel();
          got = sse.events.map((e) => e.data);
        } else {
          const ws = await openSocket(executionId, { token, query: { after: last } });
          if (ws instanceof Response) throw new Error(`socket refused: ${ws.status}`);
          await Promise.race([ws.until(want, 2_000).catch(() => undefined), ws.closed]);
          ws.ws.close(1000, "cut");
          got = [...ws.messages];
        }
        for (const e of got) {
          expect(e.seq, `after ${last}`).toBe(last + 1);
          last = e.seq;
          seen.push(e);
          if (e.type === "execution.succeeded") finished = true;
        }
        // Mid-stream, the object dies (its attempt with it) and, once the retry streams, it is evicted as well.
        const deltas = seen.filter((e) => e.type === "node.delta");
        if (!crashed && deltas.length >= 5) {
          crashed = true;
          await abortAllDurableObjects();
          await runDurableObjectAlarm(executionStub(env, executionId));
        }
        if (crashed && !evicted && deltas.filter((d) => d.data.offset === 0).length === 2) {
          evicted = true;
          await evictDurableObject(executionStub(env, executionId));
        }
        if (cut > 2000) throw new Error("the execution never finished");
      }
      const done = await waitFor(api, executionId);
      const final = done.nodes[1].output.text as string;
      expect(final.split(" ")).toHaveLength(1500);
      const deltas = seen.filter((e) => e.type === "node.delta");
      expect(reassemble(deltas)).toBe(final);
      // The crash cut the attempt off and it ran again from the start of its answer (offset 0 again: a restart a
      // client sees), once; its batches from before the crash stay as written, the re-run's are one row.
      expect(evicted).toBe(true);
      expect(done.nodes[1].attempts).toBe(1);
      expect(deltas.filter((d, i) => i > 0 && d.data.offset === 0)).toHaveLength(1);
      const rows = await deltaRows(executionId);
      expect(rows.filter((r) => r.end_seq !== null)).toHaveLength(1);
      expect(rows.filter((r) => r.end_seq === null).length).toBeGreaterThanOrEqual(5);
    },
  );
});

// Streamed tokens: node.delta messages reach live subscribers while the model answers; only the final text is logged.
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor, waitForNode } from "../support/api";
import { openSse, socket } from "../support/streams";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
const story = "The tide came in over the flats, slow and silver, and the gulls rose ahead of it in a long white line.";

async function streamedRun(tier: string, content: string) {
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
        retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
        config: { tier, stream: true, messages: [{ role: "user", content }] },
      },
    ],
  });
  await waitForNode(api, executionId, "go", "waiting");
  const ws = await socket(executionId, { token, query: { after: 0 } });
  const sse = await openSse(executionId, { token, query: { after: 0 } });
  await api.post(`/v1/executions/${executionId}/events`, { name: "go" });
  const done = await waitFor(api, executionId);
  await Promise.all([ws.closed, sse.ended]);
  return { api, executionId, done, ws, sse };
}

describe("llm stream: true", () => {
  for (const [tier, flavor] of [
    ["mid", "OpenAI-compatible"],
    ["strong", "Anthropic"],
  ] as const) {
    it(`sends node.delta pieces to WebSocket and SSE subscribers as a ${flavor} model streams, and logs only the final text`, async () => {
      const { api, executionId, done, ws, sse } = await streamedRun(tier, `[[key=${key("stream")}]] ${story}`);
      expect(done.status).toBe("succeeded");
      const final = done.nodes[1].output.text as string;
      expect(final).toBe(`echo: ${story}`);

      const wsDeltas = ws.messages.filter((m) => m.type === "node.delta");
      expect(wsDeltas.length).toBeGreaterThanOrEqual(2);
      expect(wsDeltas.map((m) => m.data.text).join("")).toBe(final);
      expect(wsDeltas.every((m) => m.seq === undefined && m.node_id === "say" && m.attempt === 1)).toBe(true);
      // Deltas come before the node's success, and the logged events around them stay gap-free.
      const succeededAt = ws.messages.findIndex((m) => m.type === "node.succeeded" && m.node_id === "say");
      expect(ws.messages.indexOf(wsDeltas.at(-1))).toBeLessThan(succeededAt);
      const logged = ws.messages.filter((m) => m.type !== "node.delta");
      expect(logged.map((m) => m.seq)).toEqual(logged.map((_, i) => i + 1));

      const sseDeltas = sse.events.filter((e) => e.data.type === "node.delta");
      expect(sseDeltas.map((e) => e.data.data.text).join("")).toBe(final);
      expect(sseDeltas.every((e) => e.id === null)).toBe(true);

      const events = (await api.get(`/v1/executions/${executionId}/events?after=0&limit=1000`)).body.data as {
        type: string;
      }[];
      expect(events.some((e) => e.type === "node.delta")).toBe(false);
    });
  }

  it("retries an answer whose stream broke off before the end", async () => {
    const { done } = await streamedRun("mid", `[[key=${key("cut")}]] [[stream_cut=1]] ${story}`);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[1].attempts).toBe(2);
    expect(done.nodes[1].output.text).toBe(`echo: ${story}`);
  });
});

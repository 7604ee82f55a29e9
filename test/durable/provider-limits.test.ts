import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor, type Client } from "../support/api";

// The pool meters openai:gpt-4.1-nano at 1,500 tokens and 1,000 requests per 4 s window (vitest.config.ts); the local
// OpenAI server enforces the same limits the way OpenAI does (test/support/rate-window.ts), answering 429 past them.
const WINDOW_MS = 4000;
const limit = (model: string) =>
  fetch(`${env.OPENAI_URL}/_limits`, {
    method: "POST",
    body: JSON.stringify({ model, tpm: 1500, rpm: 1000, window_ms: WINDOW_MS }),
  });
const served = async (model: string) =>
  (await (await fetch(`${env.OPENAI_URL}/_limits/${model}`)).json()) as {
    accepted: number;
    refused: number;
    max_tokens_in_window: number;
  };

const llm = (model: string, content: string) => ({
  kind: "llm",
  config: { provider: "openai", model, max_tokens: 100, messages: [{ role: "user", content }] },
});

async function start(api: Client, definition: unknown, lane: string): Promise<string> {
  const wf = await api.post("/v1/workflows", definition);
  expect(wf.status, JSON.stringify(wf.body)).toBe(201);
  const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: {}, lane });
  expect(ex.status, JSON.stringify(ex.body)).toBe(201);
  return ex.body.id;
}

const mapOf = (model: string, n: number, tag: string) => ({
  name: `${tag} map`,
  nodes: [
    {
      id: "each",
      kind: "map",
      config: {
        items: `[1..${n}]`,
        max_concurrency: n,
        node: {
          ...llm(model, `[[key=${tag}-{{ item }}]] item {{ item }}`),
          retry: { max_attempts: 20, initial_delay_ms: 50, max_delay_ms: 500 },
        },
      },
    },
  ],
});

async function until(check: () => Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25)))
    if (await check()) return;
  throw new Error("condition not met in time");
}

describe("provider admission (PROVIDER_LIMITS)", () => {
  it("a map that needs three windows meets no 429, waits without spending attempts, and leaves room for interactive runs", async () => {
    await limit("gpt-4.1-nano");
    const api = client((await createTenant()).token);
    const tag = `nano-${Date.now()}`;
    const began = Date.now();
    const map = await start(api, mapOf("gpt-4.1-nano", 30, tag), "batch");
    // The batch lane fills its four fifths of the window (10 calls of ~112 tokens)…
    await until(async () => (await served("gpt-4.1-nano")).accepted >= 10, 5000);
    // …a batch-lane single call now waits its turn, deferred rather than failed or counted as an attempt…
    // (one attempt allowed: a deferral is not an attempt of the policy's)
    const waiting = await start(
      api,
      { name: "batch one", nodes: [{ id: "a", ...llm("gpt-4.1-nano", "one"), retry: { max_attempts: 1 } }] },
      "batch",
    );
    // …and an interactive run goes straight through on the fifth kept for it.
    const chatStarted = Date.now();
    const chat = await start(
      api,
      { name: "chat", nodes: [{ id: "a", ...llm("gpt-4.1-nano", "hello") }] },
      "interactive",
    );
    const chatDone = await waitFor(api, chat, undefined, 10_000);
    expect(chatDone.status).toBe("succeeded");
    expect(Date.now() - chatStarted).toBeLessThan(WINDOW_MS);
    const chatEvents = (await api.get(`/v1/executions/${chat}/events?limit=100`)).body.data as any[];
    expect(chatEvents.filter((e) => e.type === "node.retrying")).toEqual([]);

    const one = await waitFor(api, waiting, undefined, 20_000);
    expect(one.status).toBe("succeeded");
    const deferred = ((await api.get(`/v1/executions/${waiting}/events?limit=100`)).body.data as any[]).filter(
      (e) => e.type === "node.retrying",
    );
    expect(deferred.length).toBeGreaterThan(0);
    expect(deferred[0].data.error).toMatchObject({ code: "provider_window_full", retryable: true, deferred: true });
    expect(deferred[0].data.error.message).toMatch(/openai:gpt-4\.1-nano has taken its share/);

    const done = await waitFor(api, map, undefined, 30_000);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].output.results).toHaveLength(30);
    // Items that waited for their turn sent their one call under the item's own Idempotency-Key: a deferral is no
    // new try (a redrive is, with :r<n>).
    const keys = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const res = await fetch(`${env.OPENAI_URL}/_calls/${tag}-${i + 1}`);
        return ((await res.json()) as { calls: { headers: Record<string, string> }[] }).calls.map(
          (c) => c.headers["idempotency-key"],
        );
      }),
    );
    expect(keys).toEqual(Array.from({ length: 30 }, (_, i) => [`${map}:each[${i}]`]));
    // 32 calls of ~110 tokens at 1,200 a window for the batch lane: at least two windows of waiting.
    expect(Date.now() - began).toBeGreaterThan(2 * WINDOW_MS);
    const seen = await served("gpt-4.1-nano");
    expect(seen).toMatchObject({ accepted: 32, refused: 0 });
    expect(seen.max_tokens_in_window).toBeLessThanOrEqual(1500);

    const queues = (await api.get("/v1/queues")).body;
    expect(queues.providers).toContainEqual(
      expect.objectContaining({
        bucket: "openai:gpt-4.1-nano",
        rpm: 1000,
        tpm: 1500,
        window_seconds: WINDOW_MS / 1000,
      }),
    );
  }, 60_000);

  it("the same map on a model the provider limits but PROVIDER_LIMITS does not meter meets the provider's 429s", async () => {
    await limit("gpt-4.1-mini");
    const api = client((await createTenant()).token);
    const map = await start(api, mapOf("gpt-4.1-mini", 20, `mini-${Date.now()}`), "batch");
    await waitFor(api, map, undefined, 30_000);
    expect((await served("gpt-4.1-mini")).refused).toBeGreaterThan(0);
  }, 60_000);

  it("a call bigger than its lane's share of a window fails at once, saying so", async () => {
    const api = client((await createTenant()).token);
    const id = await start(
      api,
      {
        name: "too big",
        nodes: [{ id: "a", kind: "llm", config: { ...llm("gpt-4.1-nano", "x").config, max_tokens: 1300 } }],
      },
      "default",
    );
    const done = await waitFor(api, id);
    expect(done.nodes[0]).toMatchObject({ status: "failed", error: { code: "over_provider_limit" } });
    expect(done.nodes[0].error.message).toMatch(/more than the 1200 its lane \(default\) may take in a window of 4 s/);
  });
});

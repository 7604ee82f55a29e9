import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub, tenantStub } from "../../src/durable/client";
import { client, createTenant, run, waitFor, waitForNode, type Client } from "../support/api";
import { openSocket, openSse, poll, socket, type SocketClient } from "../support/streams";

/** A run that moves only when told: wait for "a", transform, wait for "b", transform. */
const gated = {
  name: "gated",
  nodes: [
    { id: "wa", kind: "wait_for_event", config: { event: "a" } },
    { id: "ta", kind: "transform", needs: ["wa"], config: { expression: "'A'" } },
    { id: "wb", kind: "wait_for_event", needs: ["ta"], config: { event: "b" } },
    { id: "tb", kind: "transform", needs: ["wb"], config: { expression: "'B'" } },
  ],
};

async function setup() {
  const t = await createTenant();
  const api = client(t.token);
  const { executionId } = await run(api, gated);
  await waitForNode(api, executionId, "wa", "waiting");
  return { ...t, api, id: executionId };
}

const seqs = (events: any[]) => events.map((e) => e.seq);
const log = async (api: Client, id: string) =>
  (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];
const activeSlots = (tenantId: string) => tenantStub(env, tenantId).active("subscriber");

async function expectSlotsToDrain(tenantId: string) {
  const deadline = Date.now() + 5000;
  let n = await activeSlots(tenantId);
  while (n !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    n = await activeSlots(tenantId);
  }
  expect(n).toBe(0);
}

describe("WebSocket streams", () => {
  it("fans every event out in order to 100 subscribers, refuses the 101st with 4003, and frees every slot", async () => {
    const { api, id, token, tenantId } = await setup();
    const subs: SocketClient[] = [];
    for (let i = 0; i < 100; i++) subs.push(await socket(id, { token }));
    const extra = await socket(id, { token });
    expect(await extra.closed).toEqual({
      code: 4003,
      reason: "execution subscriber limit reached (100 per execution)",
    });
    expect(await activeSlots(tenantId)).toBe(100);

    await api.post(`/v1/executions/${id}/events`, { name: "a" });
    await api.post(`/v1/executions/${id}/events`, { name: "b" });
    await waitFor(api, id);
    const full = await log(api, id);
    for (const s of subs) {
      expect(await s.closed).toEqual({ code: 1000, reason: "execution finished" });
      expect(s.messages).toEqual(full);
    }
    expect(seqs(full)).toEqual(full.map((_, i) => i + 1));
    expect(full.at(-1).type).toBe("execution.succeeded");
    await expectSlotsToDrain(tenantId);
  });

  it("enforces the tenant-wide limit across executions", async () => {
    const { api, id: first, token, tenantId } = await setup();
    const { executionId: second } = await run(api, gated);
    // All at once: the 2 s test leases need no renewal while the limit is met (the alarm that renews them can run
    // late on a loaded machine, and a lapsed lease would hand its slot to a later socket).
    const open = await Promise.all(Array.from({ length: 100 }, () => socket(first, { token })));
    const results = await Promise.all(Array.from({ length: 60 }, () => socket(second, { token })));
    // A socket let in is sent the log; a refused one is closed at once.
    const outcomes = await Promise.all(
      results.map((r) => Promise.race([r.closed, r.until(1).then(() => "open" as const)])),
    );
    expect(outcomes.filter((o) => o === "open")).toHaveLength(50);
    expect(outcomes.filter((o) => o !== "open")).toEqual(
      Array.from({ length: 10 }, () => ({ code: 4003, reason: "tenant subscriber limit reached (150 per tenant)" })),
    );
    expect(await activeSlots(tenantId)).toBe(150);
    for (const s of [...open, ...results]) s.ws.close(1000, "bye");
    await expectSlotsToDrain(tenantId);
    // A freed slot can be taken again.
    const again = await socket(second, { token });
    expect(await activeSlots(tenantId)).toBe(1);
    again.ws.close(1000);
    await expectSlotsToDrain(tenantId);
  });

  it("resumes after a disconnect with exactly the missed events, then continues live", async () => {
    const { api, id, token } = await setup();
    const first = await socket(id, { token });
    const before = await first.until((await log(api, id)).length);
    const lastSeen = before.at(-1).seq;
    first.ws.close(1000, "going away");
    await api.post(`/v1/executions/${id}/events`, { name: "a" });
    await waitForNode(api, id, "wb", "waiting");
    const resumed = await socket(id, { token, query: { after: lastSeen } });
    const missed = (await log(api, id)).filter((e) => e.seq > lastSeen);
    await resumed.until(missed.length);
    await api.post(`/v1/executions/${id}/events`, { name: "b" });
    await resumed.closed;
    const all = await log(api, id);
    expect([...before, ...resumed.messages]).toEqual(all);
  });

  it("answers ping, replays on a resume message, and closes on anything else", async () => {
    const { api, id, token } = await setup();
    const s = await socket(id, { token });
    const n = (await log(api, id)).length;
    await s.until(n);
    s.ws.send(JSON.stringify({ type: "ping" }));
    await s.until(n + 1);
    expect(s.messages[n]).toEqual({ type: "pong" });
    s.ws.send(JSON.stringify({ type: "resume", after: n - 1 }));
    await s.until(n + 2);
    expect(s.messages[n + 1].seq).toBe(n);
    s.ws.send("hello?");
    expect((await s.closed).code).toBe(4400);

    const big = await socket(id, { token });
    big.ws.send(JSON.stringify({ type: "ping", pad: "x".repeat(5000) }));
    expect((await big.closed).code).toBe(1009);
  });

  it("replays a finished execution and closes normally", async () => {
    const { api, id, token, tenantId } = await setup();
    await api.post(`/v1/executions/${id}/cancel`);
    await waitFor(api, id);
    const s = await socket(id, { token });
    expect(await s.closed).toEqual({ code: 1000, reason: "execution finished" });
    expect(s.messages).toEqual(await log(api, id));
    expect(await activeSlots(tenantId)).toBe(0);
  });
});

describe("hibernation", () => {
  it("keeps hibernated sockets subscribed across an eviction, and frees slots of sockets eviction closed", async () => {
    const { api, id, token, tenantId } = await setup();
    const kept = await socket(id, { token });
    await kept.until((await log(api, id)).length);
    await evictDurableObject(executionStub(env, id));
    await api.post(`/v1/executions/${id}/events`, { name: "a" });
    await api.post(`/v1/executions/${id}/events`, { name: "b" });
    expect(await kept.closed).toEqual({ code: 1000, reason: "execution finished" });
    expect(kept.messages).toEqual(await log(api, id));
    await expectSlotsToDrain(tenantId);

    const second = await setup();
    const dropped = await socket(second.id, { token: second.token });
    expect(await activeSlots(second.tenantId)).toBe(1);
    await evictDurableObject(executionStub(env, second.id), { webSockets: "close" });
    await dropped.closed;
    // Released by the close handler, or at the latest when the 2 s test lease expires.
    await expectSlotsToDrain(second.tenantId);
  });
});

describe("SSE streams", () => {
  it("delivers the same sequence as WebSocket, with ids, heartbeats and a normal end", async () => {
    const { api, id, token } = await setup();
    const ws = await socket(id, { token });
    const sse = await openSse(id, { token });
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    await poll(
      () => sse.heartbeats > 0,
      5000,
      () => "a heartbeat comment",
    );
    await api.post(`/v1/executions/${id}/events`, { name: "a" });
    await api.post(`/v1/executions/${id}/events`, { name: "b" });
    await waitFor(api, id);
    await sse.ended;
    await ws.closed;
    expect(sse.events.map((e) => e.data)).toEqual(ws.messages);
    expect(sse.events.map((e) => Number(e.id))).toEqual(seqs(ws.messages));
  });

  it("resumes from Last-Event-ID or ?after= without gaps or duplicates", async () => {
    const { api, id, token } = await setup();
    await api.post(`/v1/executions/${id}/events`, { name: "a" });
    await waitForNode(api, id, "wb", "waiting");
    const soFar = await log(api, id);
    const fromHeader = await openSse(id, { token, lastEventId: "3" });
    const fromQuery = await openSse(id, { token, query: { after: 3 } });
    await fromHeader.until(soFar.length - 3);
    await api.post(`/v1/executions/${id}/events`, { name: "b" });
    await Promise.all([fromHeader.ended, fromQuery.ended]);
    const all = await log(api, id);
    expect(fromHeader.events.map((e) => e.data)).toEqual(all.slice(3));
    expect(fromQuery.events.map((e) => e.data)).toEqual(all.slice(3));
  });

  it("answers over-limit SSE with 429 problem+json and Retry-After, and frees slots on disconnect", async () => {
    const { id, token, tenantId } = await setup();
    const subs: SocketClient[] = [];
    for (let i = 0; i < 100; i++) subs.push(await socket(id, { token }));
    const over = await openSse(id, { token });
    expect(over.response.status).toBe(429);
    expect(over.response.headers.get("retry-after")).toBe("5");
    expect(over.response.headers.get("content-type")).toBe("application/problem+json");
    expect(((await over.response.json()) as any).code).toBe("subscriber_limit");
    subs[0]!.ws.close(1000);
    let sse = await openSse(id, { token });
    for (let i = 0; sse.response.status !== 200 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      sse = await openSse(id, { token });
    }
    expect(sse.response.status).toBe(200);
    await sse.cancel();
    for (const s of subs.slice(1)) s.ws.close(1000);
    await expectSlotsToDrain(tenantId);
  });
});

describe("stream auth", () => {
  it("accepts a ticket once, for its own execution, before it expires", async () => {
    const { api, id, tenantId } = await setup();
    const { executionId: other } = await run(api, gated);
    const issue = async (execution_id: string) => (await api.post("/v1/stream-tickets", { execution_id })).body;
    const t1 = await issue(id);
    expect(t1.ticket).toMatch(/^tk_[0-9a-f]{64}$/);
    expect(Date.parse(t1.expires_at)).toBeGreaterThan(Date.now());
    const ok = await socket(id, { query: { ticket: t1.ticket } });
    await ok.until(1);
    const reused = await openSocket(id, { query: { ticket: t1.ticket } });
    expect(reused).toBeInstanceOf(Response);
    expect((reused as Response).status).toBe(401);
    expect(((await (reused as Response).json()) as any).code).toBe("invalid_ticket");

    const t2 = await issue(id);
    const wrongExecution = await openSse(other, { query: { ticket: t2.ticket } });
    expect(wrongExecution.response.status).toBe(401);
    const t3 = await issue(id);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await openSse(id, { query: { ticket: t3.ticket } })).response.status).toBe(401);
    const t4 = await issue(id);
    const sse = await openSse(id, { query: { ticket: t4.ticket } });
    expect(sse.response.status).toBe(200);
    await sse.cancel();
    ok.ws.close(1000);
    await expectSlotsToDrain(tenantId);
  });

  it("refuses API keys in the URL, missing credentials, other tenants, and non-stream requests", async () => {
    const { id, token } = await setup();
    const other = await createTenant();
    const inUrl = await openSse(id, { query: { api_key: token } });
    expect(inUrl.response.status).toBe(400);
    expect(((await inUrl.response.json()) as any).code).toBe("credentials_in_url");
    expect((await openSse(id, { query: { x: token } })).response.status).toBe(400);
    expect((await openSse(id)).response.status).toBe(401);
    expect((await openSse(id, { token: other.token })).response.status).toBe(404);
    const foreign = await client(other.token).post("/v1/stream-tickets", { execution_id: id });
    expect(foreign.status).toBe(404);
    const plain = await client(token).get(`/v1/executions/${id}/stream`);
    expect(plain.status).toBe(406);
    expect((await client(null).post("/v1/stream-tickets", { execution_id: id })).status).toBe(401);
  });
});

describe("subscriber slot leases", () => {
  it("renews the slots of live subscribers and reclaims a leaked one when its lease expires", async () => {
    const { id, token, tenantId } = await setup();
    const s = await socket(id, { token });
    // Leases last 2 s in tests; the execution's alarm renews them while the socket is open.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await activeSlots(tenantId)).toBe(1);
    const tenant = tenantStub(env, tenantId);
    expect(await tenant.acquire("subscriber", "leaked", 150, 100)).toEqual({ ok: true, active: 2 });
    await new Promise((r) => setTimeout(r, 150));
    expect(await activeSlots(tenantId)).toBe(1);
    s.ws.close(1000);
    await expectSlotsToDrain(tenantId);
  });
});

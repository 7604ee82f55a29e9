import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { explainListConversations, insertConversation } from "../../src/db/conversations-repo";
import { estimateTokens } from "../../src/engine/conversation";
import { client, createTenant, waitFor, type Client } from "../support/api";

const WAIT = { prefer: "wait=30" };

async function chatConversation(api: Client, extra: Record<string, unknown> = {}) {
  const wf = await api.post("/v1/templates/chat-turn/instantiate", {});
  expect(wf.status).toBe(201);
  const cv = await api.post("/v1/conversations", { workflow_id: wf.body.id, ...extra });
  expect(cv.status).toBe(201);
  return { workflowId: wf.body.id as string, id: cv.body.id as string };
}

/** The history a turn's execution was given. */
async function historyOf(api: Client, executionId: string): Promise<{ role: string; content: string }[]> {
  return (await api.get(`/v1/executions/${executionId}`)).body.input.history;
}

// A turn with no model: the reply repeats the message and says how much history it was given, so a 1,000-turn
// conversation costs seconds.
const echoTurn = {
  name: "echo-turn",
  input_schema: {
    type: "object",
    required: ["message", "history"],
    properties: { message: { type: "string" }, history: { type: "array" } },
  },
  nodes: [
    {
      id: "turn",
      kind: "transform",
      config: { expression: "{'reply': 'echo ' & input.message, 'seen': $count(input.history)}" },
    },
  ],
};

describe("conversations", () => {
  it("keeps the history: each turn gets the earlier answered messages, a failed or empty turn never poisons later ones", async () => {
    const api = client((await createTenant()).token);
    const { id } = await chatConversation(api, { user_id: "u-1", metadata: { channel: "web" } });

    const first = await api.post(`/v1/conversations/${id}/messages`, { content: "What is a spring tide?" }, WAIT);
    expect(first.status).toBe(200);
    expect(first.headers.get("preference-applied")).toBe("wait=30");
    expect(first.body.message).toMatchObject({ seq: 1, role: "user", status: "ok" });
    expect(first.body.reply).toMatchObject({
      seq: 2,
      role: "assistant",
      status: "ok",
      content: "echo: What is a spring tide?",
    });
    expect(first.body.history).toEqual({ messages: 0, tokens: 0, dropped: false });

    // An empty answer and a failed one are recorded as such…
    const empty = await api.post(`/v1/conversations/${id}/messages`, { content: "say nothing [[json=]]" }, WAIT);
    expect(empty.status).toBe(200);
    expect(empty.body.reply).toMatchObject({ seq: 4, status: "empty", content: null, error: { code: "empty_reply" } });
    const failed = await api.post(`/v1/conversations/${id}/messages`, { content: "break [[status=400]]" }, WAIT);
    expect(failed.status).toBe(200);
    expect(failed.body.reply).toMatchObject({
      seq: 6,
      status: "failed",
      content: null,
      error: { message: expect.stringMatching(/^node reply: .*400/) },
    });
    expect(failed.body.message.status).toBe("unanswered");

    // …and the next turn is given only the answered turn.
    const next = await api.post(`/v1/conversations/${id}/messages`, { content: "And a neap tide?" }, WAIT);
    expect(next.body.reply).toMatchObject({ seq: 8, status: "ok", content: "echo: And a neap tide?" });
    expect(await historyOf(api, next.body.execution_id)).toEqual([
      { role: "user", content: "What is a spring tide?" },
      { role: "assistant", content: "echo: What is a spring tide?" },
    ]);
    expect(next.body.history).toMatchObject({ messages: 2, dropped: false });

    const messages = await api.get(`/v1/conversations/${id}/messages?limit=5`);
    expect(messages.body.data.map((m: any) => [m.seq, m.role, m.status])).toEqual([
      [1, "user", "ok"],
      [2, "assistant", "ok"],
      [3, "user", "unanswered"],
      [4, "assistant", "empty"],
      [5, "user", "unanswered"],
    ]);
    expect(messages.body.next_after).toBe(5);
    const rest = await api.get(`/v1/conversations/${id}/messages?after=5`);
    expect(rest.body.data.map((m: any) => m.seq)).toEqual([6, 7, 8]);
    expect(rest.body.next_after).toBeNull();

    const got = await api.get(`/v1/conversations/${id}`);
    expect(got.body).toMatchObject({
      user_id: "u-1",
      metadata: { channel: "web" },
      message_count: 8,
      last_message: { role: "assistant", content: "echo: And a neap tide?", status: "ok" },
      active_execution_id: null,
    });
    // The turn's execution is labelled with its conversation, so the executions search finds them all (and only them).
    const other = await chatConversation(api);
    await api.post(`/v1/conversations/${other.id}/messages`, { content: "elsewhere" }, WAIT);
    const runs = await api.get(`/v1/executions?metadata=conversation_id:${id}&limit=100`);
    expect(runs.body.data).toHaveLength(4);
  });

  it("runs one turn at a time: a second message while a turn runs is 409 naming it, then goes once it ends", async () => {
    const api = client((await createTenant()).token);
    const { id } = await chatConversation(api);
    const slow = await api.post(`/v1/conversations/${id}/messages`, { content: "think [[slow=1500]]" });
    expect(slow.status).toBe(202);
    expect(slow.body).toMatchObject({ status: "running", reply: null, message: { seq: 1, status: "pending" } });
    expect(slow.headers.get("location")).toBe(`/v1/executions/${slow.body.execution_id}`);
    expect(slow.body.stream).toBe(`/v1/executions/${slow.body.execution_id}/stream`);

    const busy = await api.post(`/v1/conversations/${id}/messages`, { content: "hello?" });
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ code: "conversation_busy", execution_id: slow.body.execution_id });
    expect(busy.headers.get("retry-after")).toBe("1");
    expect((await api.get(`/v1/conversations/${id}`)).body.active_execution_id).toBe(slow.body.execution_id);

    await waitFor(api, slow.body.execution_id);
    const after = await api.post(`/v1/conversations/${id}/messages`, { content: "hello?" }, WAIT);
    expect(after.status).toBe(200);
    expect(after.body.message.seq).toBe(3);
    expect(await historyOf(api, after.body.execution_id)).toEqual([
      { role: "user", content: "think [[slow=1500]]" },
      { role: "assistant", content: "echo: think" },
    ]);
  });

  it("makes a retried message with an Idempotency-Key the same turn, as it stands; another content is 422; a refused message leaves its key free", async () => {
    const api = client((await createTenant()).token);
    const { id } = await chatConversation(api);
    const send = (content: string, key: string, extra: Record<string, string> = {}) =>
      api.post(`/v1/conversations/${id}/messages`, { content }, { "idempotency-key": key, ...extra });
    // The client's answer is lost while the turn runs; it sends again (waiting this time), and once more later.
    const first = await send("think [[slow=800]]", "msg-1");
    expect(first.status).toBe(202);
    const retried = await send("think [[slow=800]]", "msg-1", WAIT);
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBe("true");
    expect(retried.body).toMatchObject({
      execution_id: first.body.execution_id,
      status: "succeeded",
      message: { seq: 1, role: "user", status: "ok" },
      reply: { seq: 2, role: "assistant", status: "ok", content: "echo: think" },
      history: first.body.history,
    });
    expect(retried.body.message).toEqual({ ...first.body.message, status: "ok" });
    const later = await send("think [[slow=800]]", "msg-1");
    expect(later.status).toBe(200);
    expect(later.headers.get("idempotent-replayed")).toBe("true");
    expect(later.body).toEqual(retried.body);
    // One turn: one user message, one answer, one model call.
    const messages = (await api.get(`/v1/conversations/${id}/messages`)).body.data as any[];
    expect(messages.map((m) => [m.seq, m.role, m.execution_id])).toEqual([
      [1, "user", first.body.execution_id],
      [2, "assistant", first.body.execution_id],
    ]);
    // The key is bound to what it was sent with.
    const other = await send("something else", "msg-1");
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");

    // A message refused while a turn runs is not kept under its key: sent again once the turn ended, it starts.
    const running = await send("again [[slow=800]]", "msg-2");
    expect(running.status).toBe(202);
    const busy = await send("hello?", "msg-3");
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe("conversation_busy");
    await waitFor(api, running.body.execution_id);
    const third = await send("hello?", "msg-3", WAIT);
    expect(third.status).toBe(200);
    expect(third.headers.get("idempotent-replayed")).toBeNull();
    expect(third.body).toMatchObject({ message: { seq: 5 }, reply: { seq: 6, status: "ok" } });
    expect(third.body.history).toEqual({ messages: 4, tokens: expect.any(Number), dropped: false });
    const replayed = await send("hello?", "msg-3");
    expect(replayed.body.history).toEqual(third.body.history);
    expect((await api.get(`/v1/conversations/${id}`)).body.message_count).toBe(6);
  });

  it("answers 202 with the stream when the turn outlasts Prefer: wait, and the reply lands by itself", async () => {
    const api = client((await createTenant()).token);
    const { id } = await chatConversation(api);
    const res = await api.post(
      `/v1/conversations/${id}/messages`,
      { content: "slowly [[slow=2500]]" },
      { prefer: "wait=1" },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get("preference-applied")).toBe("wait=1");
    await waitFor(api, res.body.execution_id);
    // The execution's own projection closed the turn: nobody waited for it.
    const messages = (await api.get(`/v1/conversations/${id}/messages`)).body.data;
    expect(messages.map((m: any) => [m.seq, m.status, m.content])).toEqual([
      [1, "ok", "slowly [[slow=2500]]"],
      [2, "ok", "echo: slowly"],
    ]);
    expect((await api.get(`/v1/conversations/${id}`)).body.active_execution_id).toBeNull();
  });

  it("refuses bad messages clearly and creates nothing", async () => {
    const owner = await createTenant();
    const api = client(owner.token);
    const { id } = await chatConversation(api, { history_tokens: 256 });
    const other = client((await createTenant()).token);
    expect((await other.post(`/v1/conversations/${id}/messages`, { content: "hi" })).body.code).toBe(
      "conversation_not_found",
    );
    expect((await other.get(`/v1/conversations/${id}`)).status).toBe(404);
    expect((await api.get(`/v1/conversations/cv_nope`)).status).toBe(404);

    const long = await api.post(`/v1/conversations/${id}/messages`, { content: "x".repeat(100_001) });
    expect(long.status).toBe(422);
    expect(long.body).toMatchObject({ code: "message_too_long", errors: [{ path: "content" }] });
    expect(long.body.detail).toContain("100000");
    const over = await api.post(`/v1/conversations/${id}/messages`, { content: "word ".repeat(400) });
    expect(over.status).toBe(422);
    expect(over.body.code).toBe("message_over_budget");
    expect(over.body.detail).toContain("256");
    expect((await api.post(`/v1/conversations/${id}/messages`, { content: "" })).status).toBe(400);
    expect((await api.get(`/v1/conversations/${id}`)).body.message_count).toBe(0);

    const notChat = await api.post("/v1/workflows", {
      name: "needs-topic",
      input_schema: { type: "object", required: ["topic"], properties: { topic: { type: "string" } } },
      nodes: [{ id: "t", kind: "transform", config: { expression: "input.topic" } }],
    });
    const refused = await api.post("/v1/conversations", { workflow_id: notChat.body.id });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe("workflow_not_conversational");
    expect(JSON.stringify(refused.body.errors)).toContain("topic");
    expect((await api.post("/v1/conversations", { workflow_id: "wf_01J00000000000000000000000" })).status).toBe(404);
    expect((await api.get("/v1/conversations")).body.data).toHaveLength(1);

    // Idempotency-Key: a retried create returns the same conversation.
    const wf = (await api.get(`/v1/conversations/${id}`)).body.workflow_id;
    const a = await api.post("/v1/conversations", { workflow_id: wf }, { "idempotency-key": "cv-1" });
    const b = await api.post("/v1/conversations", { workflow_id: wf }, { "idempotency-key": "cv-1" });
    expect([a.status, b.status]).toEqual([201, 200]);
    expect(b.body.id).toBe(a.body.id);
  });

  it("lists sessions with message count and last message in one indexed query, at 10 and at 1,000", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const { workflowId, id } = await chatConversation(api, { user_id: "alice" });
    await api.post(`/v1/conversations/${id}/messages`, { content: "hi" }, WAIT);
    const db = openDb(env.DB).db;
    const seed = async (n: number, from: number) => {
      for (let i = from; i < from + n; i++)
        await insertConversation(db, {
          id: `cv_${String(i).padStart(26, "0")}`,
          tenant_id: tenantId,
          workflow_id: workflowId,
          user_id: i % 2 ? "alice" : "bob",
          history_tokens: 8000,
          message_count: 2,
          last_message_role: "assistant",
          last_message: `answer ${i}`,
          last_message_status: "ok",
          last_message_at: 1_000 + i,
          created_at: 1_000 + i,
          updated_at: 1_000 + i,
        });
    };
    await seed(9, 0);
    const small = await api.get("/v1/conversations?limit=100");
    expect(small.body.data).toHaveLength(10);
    expect(small.body.data[0]).toMatchObject({ id, message_count: 2, last_message: { content: "echo: hi" } });
    expect(small.headers.get("x-d1-queries")).toBe("2");

    await seed(990, 9);
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api.get(`/v1/conversations?user_id=alice&limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.headers.get("x-d1-queries")).toBe("2");
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(1 + 499);
    expect(new Set(seen.map((c) => c.id)).size).toBe(seen.length);
    expect(seen.every((c) => c.user_id === "alice")).toBe(true);

    for (const user of [null, "alice"]) {
      const plan = (await explainListConversations(db, tenantId, user)).join(" | ");
      expect(plan).toMatch(/USING INDEX conversations_by_(tenant|user)/);
      expect(plan).not.toMatch(/TEMP B-TREE|SCAN conversations\b(?! USING)/);
    }
  });

  it("erases a conversation with every execution of its turns", async () => {
    const api = client((await createTenant()).token);
    const { id } = await chatConversation(api);
    const turns = [];
    for (const content of ["one", "two", "three [[status=400]]"])
      turns.push((await api.post(`/v1/conversations/${id}/messages`, { content }, WAIT)).body.execution_id);
    const running = await api.post(`/v1/conversations/${id}/messages`, { content: "four [[slow=5000]]" });
    expect(running.status).toBe(202);
    turns.push(running.body.execution_id);

    const del = await api.del(`/v1/conversations/${id}`);
    expect(del.status).toBe(204);
    for (const ex of turns) expect((await api.get(`/v1/executions/${ex}`)).status).toBe(404);
    expect((await api.get(`/v1/executions?metadata=conversation_id:${id}`)).body.data).toEqual([]);
    expect((await api.get(`/v1/conversations/${id}`)).status).toBe(404);
    expect((await api.get(`/v1/conversations/${id}/messages`)).status).toBe(404);
    expect((await api.post(`/v1/conversations/${id}/messages`, { content: "again" })).status).toBe(404);
    expect((await api.del(`/v1/conversations/${id}`)).status).toBe(404);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM conversation_messages WHERE conversation_id = ?")
      .bind(id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });

  it("keeps the summary a turn returns and gives it to the next turn, inside the budget", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "summarising",
      nodes: [
        {
          id: "turn",
          kind: "transform",
          config: {
            expression:
              "{'reply': 'noted ' & input.message, 'summary': ($exists(input.summary) ? input.summary & ', ' : 'asked about: ') & input.message, 'had': $exists(input.summary) ? input.summary : null}",
          },
        },
      ],
    });
    const cv = (await api.post("/v1/conversations", { workflow_id: wf.body.id })).body.id;
    await api.post(`/v1/conversations/${cv}/messages`, { content: "tides" }, WAIT);
    const second = await api.post(`/v1/conversations/${cv}/messages`, { content: "orbits" }, WAIT);
    const ran = (await api.get(`/v1/executions/${second.body.execution_id}`)).body;
    expect(ran.input.summary).toBe("asked about: tides");
    expect(ran.output.turn.had).toBe("asked about: tides");
    const third = await api.post(`/v1/conversations/${cv}/messages`, { content: "glaciers" }, WAIT);
    expect((await api.get(`/v1/executions/${third.body.execution_id}`)).body.input.summary).toBe(
      "asked about: tides, orbits",
    );
  });

  it("keeps every one of 1,000 turns within its token budget", { timeout: 300_000 }, async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", echoTurn);
    const budget = 600;
    const cv = await api.post("/v1/conversations", { workflow_id: wf.body.id, history_tokens: budget });
    let longest = 0;
    for (let turn = 1; turn <= 1000; turn++) {
      const content = `turn ${turn} ${"lorem ipsum ".repeat(turn % 7)}`;
      const res = await api.post(`/v1/conversations/${cv.body.id}/messages`, { content }, WAIT);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.reply.content).toBe(`echo ${content}`);
      expect(res.body.history.tokens + estimateTokens(content)).toBeLessThanOrEqual(budget);
      longest = Math.max(longest, res.body.history.messages);
      if (turn > 100) expect(res.body.history).toMatchObject({ dropped: true, messages: expect.any(Number) });
    }
    expect(longest).toBeGreaterThan(10);
    expect((await api.get(`/v1/conversations/${cv.body.id}`)).body.message_count).toBe(2000);
  });
});

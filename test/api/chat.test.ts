// The AI SDK's own client code (DefaultChatTransport, readUIMessageStream: what useChat runs) against /v1/chat.
import { exports } from "cloudflare:workers";
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";
import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor } from "../support/api";

async function chatSetup(definition?: unknown) {
  const { token } = await createTenant();
  const api = client(token);
  const wf = definition
    ? (await api.post("/v1/workflows", definition)).body.id
    : (await api.post("/v1/templates/chat-turn/instantiate", {})).body.id;
  const cv = (await api.post("/v1/conversations", { workflow_id: wf })).body.id as string;
  const transport = new DefaultChatTransport<UIMessage>({
    api: "http://edgeflow.test/v1/chat",
    headers: { authorization: `Bearer ${token}` },
    fetch: ((url: string, init: RequestInit) => exports.default.fetch(url, init)) as typeof fetch,
  });
  return { api, cv, transport };
}

const userMessage = (text: string): UIMessage => ({
  id: crypto.randomUUID(),
  role: "user",
  parts: [{ type: "text", text }],
});

async function lastMessage(stream: ReadableStream<any>): Promise<UIMessage> {
  let message: UIMessage | undefined;
  // terminateOnError: an `error` chunk rejects, as useChat's onError would report it.
  for await (const m of readUIMessageStream({ stream, terminateOnError: true })) message = m;
  if (!message) throw new Error("no message");
  return message;
}

const textOf = (m: UIMessage) =>
  m.parts
    .filter((p) => p.type === "text")
    .map((p) => (p as { text: string }).text)
    .join("");

describe("/v1/chat: the AI SDK UI message stream", () => {
  it("streams a turn's reply to the AI SDK's client and stores it in the conversation", async () => {
    const { api, cv, transport } = await chatSetup();
    const stream = await transport.sendMessages({
      chatId: cv,
      messages: [userMessage("What is a spring tide?")],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: undefined,
    });
    const message = await lastMessage(stream);
    expect(message.role).toBe("assistant");
    expect(message.id).toBe(`${cv}-2`);
    expect(textOf(message)).toBe("echo: What is a spring tide?");
    expect(message.metadata).toMatchObject({ conversation_id: cv, seq: 2 });
    const stored = (await api.get(`/v1/conversations/${cv}/messages`)).body.data;
    expect(stored.map((m: any) => [m.role, m.content])).toEqual([
      ["user", "What is a spring tide?"],
      ["assistant", "echo: What is a spring tide?"],
    ]);
    // The next turn sends the whole client history, as useChat does; only the last message is new.
    const next = await lastMessage(
      await transport.sendMessages({
        chatId: cv,
        messages: [userMessage("What is a spring tide?"), message, userMessage("And neap?")],
        trigger: "submit-message",
        messageId: undefined,
        abortSignal: undefined,
      }),
    );
    expect(textOf(next)).toBe("echo: And neap?");
    expect((await api.get(`/v1/conversations/${cv}`)).body.message_count).toBe(4);
    // Nothing runs now: a resume finds no stream.
    expect(await transport.reconnectToStream({ chatId: cv })).toBeNull();
  });

  it("sends a message again under its Idempotency-Key (the message id): the same turn streamed again, never a second", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const wf = (await api.post("/v1/templates/chat-turn/instantiate", {})).body.id;
    const cv = (await api.post("/v1/conversations", { workflow_id: wf })).body.id as string;
    const replayed: (string | null)[] = [];
    // The documented way to key a message: the transport sends the last message's id as the Idempotency-Key.
    const transport = new DefaultChatTransport<UIMessage>({
      api: "http://edgeflow.test/v1/chat",
      headers: { authorization: `Bearer ${token}` },
      prepareSendMessagesRequest: ({ id, messages, trigger, messageId, body, headers }) => ({
        body: { ...body, id, messages, trigger, messageId },
        headers: { ...(headers as Record<string, string>), "idempotency-key": messages.at(-1)!.id },
      }),
      fetch: (async (url: string, init: RequestInit) => {
        const res = await exports.default.fetch(url, init);
        replayed.push(res.headers.get("idempotent-replayed"));
        return res;
      }) as typeof fetch,
    });
    const question = userMessage("What is a spring tide?");
    const send = async (text?: string) =>
      lastMessage(
        await transport.sendMessages({
          chatId: cv,
          messages: [text ? { ...question, parts: [{ type: "text", text }] } : question],
          trigger: "submit-message",
          messageId: undefined,
          abortSignal: undefined,
        }),
      );
    const first = await send();
    // The app lost the answer and sends the same message again.
    const again = await send();
    expect(replayed).toEqual([null, "true"]);
    expect(again.id).toBe(first.id);
    expect(textOf(again)).toBe("echo: What is a spring tide?");
    const stored = (await api.get(`/v1/conversations/${cv}/messages`)).body.data;
    expect(stored.map((m: any) => m.role)).toEqual(["user", "assistant"]);
    expect((await api.get(`/v1/executions?limit=10`)).body.data).toHaveLength(1);
    // The same id with other text is not that message.
    await expect(send("Another question")).rejects.toThrow(/Idempotency-Key was used with a different request body/);
  });

  it("resumes a turn after the client drops mid-reply: the replay ends as one message with the whole reply", async () => {
    const { api, cv, transport } = await chatSetup();
    const drop = new AbortController();
    const stream = await transport.sendMessages({
      chatId: cv,
      messages: [userMessage("[[needs_tokens=600]] a long one")],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: drop.signal,
    });
    const reader = stream.getReader();
    const seen: any[] = [];
    while (!seen.some((c) => c.type === "text-delta")) seen.push((await reader.read()).value);
    drop.abort();
    await reader.cancel().catch(() => undefined);

    const resumed = await transport.reconnectToStream({ chatId: cv });
    expect(resumed).not.toBeNull();
    const message = await lastMessage(resumed!);
    expect(message.id).toBe(`${cv}-2`);
    await waitFor(api, (await api.get(`/v1/conversations/${cv}/messages`)).body.data[0].execution_id);
    const reply = (await api.get(`/v1/conversations/${cv}/messages?after=1`)).body.data[0];
    expect(reply.content.split(" ")).toHaveLength(600);
    expect(textOf(message)).toBe(reply.content);
    expect((await api.get(`/v1/conversations/${cv}`)).body).toMatchObject({
      message_count: 2,
      active_execution_id: null,
    });
  });

  it("answers a workflow that does not stream with one text part, and a failed turn as the stream's error", async () => {
    const { cv, transport } = await chatSetup({
      name: "plain",
      nodes: [
        {
          id: "turn",
          kind: "transform",
          config: {
            expression: "input.message = 'fail' ? $error('no such order') : {'reply': 'Order ' & input.message}",
          },
        },
      ],
    });
    const ok = await lastMessage(
      await transport.sendMessages({
        chatId: cv,
        messages: [userMessage("42")],
        trigger: "submit-message",
        messageId: undefined,
        abortSignal: undefined,
      }),
    );
    expect(textOf(ok)).toBe("Order 42");
    const failed = transport.sendMessages({
      chatId: cv,
      messages: [userMessage("fail")],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: undefined,
    });
    await expect(failed.then(lastMessage)).rejects.toThrow(/node turn: no such order/);
  });

  it("refuses what it cannot run with problem+json, before any stream", async () => {
    const { cv, transport } = await chatSetup();
    const send = (
      messages: UIMessage[],
      trigger: "submit-message" | "regenerate-message" = "submit-message",
      chatId = cv,
    ) => transport.sendMessages({ chatId, messages, trigger, messageId: undefined, abortSignal: undefined });
    await expect(send([userMessage("hi")], "submit-message", "cv_01J00000000000000000000000")).rejects.toThrow(
      /conversation_not_found/,
    );
    await expect(send([userMessage("hi")], "regenerate-message")).rejects.toThrow(/regenerate_unsupported/);
    await expect(send([{ id: "a", role: "assistant", parts: [{ type: "text", text: "x" }] }])).rejects.toThrow(
      /message_empty/,
    );
  });
});

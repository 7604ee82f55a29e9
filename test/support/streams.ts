import { exports } from "cloudflare:workers";

export interface SocketClient {
  ws: WebSocket;
  messages: any[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` messages have arrived (or rejects after a timeout). */
  until(n: number, timeoutMs?: number): Promise<any[]>;
}

const poll = async (check: () => boolean, timeoutMs: number, what: () => string) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function streamUrl(id: string, query: Record<string, string | number> = {}): string {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return `http://edgeflow.test/v1/executions/${id}/stream${qs ? `?${qs}` : ""}`;
}

/** Open a real WebSocket to the stream through the Worker's fetch handler. */
export async function openSocket(
  id: string,
  opts: { token?: string; query?: Record<string, string | number> } = {},
): Promise<SocketClient | Response> {
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await exports.default.fetch(streamUrl(id, opts.query), { headers });
  if (!res.webSocket) return res;
  const ws = res.webSocket;
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })),
  );
  ws.addEventListener("message", (e) => {
    messages.push(JSON.parse(e.data as string));
  });
  ws.accept();
  return {
    ws,
    messages,
    closed,
    async until(n, timeoutMs = 10_000) {
      await poll(
        () => messages.length >= n,
        timeoutMs,
        () => `${n} messages (have ${messages.length})`,
      );
      return messages;
    },
  };
}

export async function socket(
  id: string,
  opts: { token?: string; query?: Record<string, string | number> } = {},
): Promise<SocketClient> {
  const s = await openSocket(id, opts);
  if (s instanceof Response) throw new Error(`expected a WebSocket, got ${s.status} ${await s.text()}`);
  return s;
}

export interface SseClient {
  response: Response;
  events: { id: string | null; data: any }[];
  heartbeats: number;
  ended: Promise<void>;
  until(n: number, timeoutMs?: number): Promise<{ id: string | null; data: any }[]>;
  cancel(): Promise<void>;
}

/** Open an SSE stream and parse it the way EventSource does: `id:` / `data:` lines, blank line ends an event. */
export async function openSse(
  id: string,
  opts: { token?: string; query?: Record<string, string | number>; lastEventId?: string } = {},
): Promise<SseClient> {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId) headers["last-event-id"] = opts.lastEventId;
  const response = await exports.default.fetch(streamUrl(id, opts.query), { headers });
  const client: SseClient = {
    response,
    events: [],
    heartbeats: 0,
    ended: Promise.resolve(),
    async until(n, timeoutMs = 10_000) {
      await poll(
        () => client.events.length >= n,
        timeoutMs,
        () => `${n} SSE events (have ${client.events.length})`,
      );
      return client.events;
    },
    async cancel() {
      await reader?.cancel();
    },
  };
  const reader = response.ok ? response.body?.getReader() : undefined;
  if (!reader) return client;
  client.ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let eventId: string | null = null;
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) client.heartbeats++;
          else if (line.startsWith("id:")) eventId = line.slice(3).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) client.events.push({ id: eventId, data: JSON.parse(data.join("\n")) });
      }
    }
  })();
  return client;
}

export { poll };

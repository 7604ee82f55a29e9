// An execution's events as they happen, over its WebSocket stream. Browsers cannot set headers on a WebSocket, so
// each connection takes a single-use ticket (POST /v1/stream-tickets) and never carries the key in its URL; a drop
// reconnects with a new ticket from the last seq seen, so no event is missed or shown twice.
import { api } from "./api";
import type { EventEnvelope } from "./model/types";

export interface LiveHandlers {
  /** Every event of the log in seq order, node.delta (an llm node's streamed text) included. */
  event(e: EventEnvelope): void;
  state(s: "connecting" | "live" | "closed" | "retrying"): void;
}

export function follow(executionId: string, after: number, on: LiveHandlers): () => void {
  let last = after;
  let socket: WebSocket | null = null;
  let stopped = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ping: ReturnType<typeof setInterval> | undefined;

  const connect = async () => {
    on.state("connecting");
    let ticket: string;
    try {
      ticket = (await api.post<{ ticket: string }>("/v1/stream-tickets", { execution_id: executionId })).ticket;
    } catch {
      return retry();
    }
    if (stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/v1/executions/${encodeURIComponent(executionId)}/stream?ticket=${encodeURIComponent(ticket)}&after=${last}`;
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      failures = 0;
      on.state("live");
      // Keeps the subscriber's lease alive while the tab watches a long wait.
      ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 60_000);
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data)) as EventEnvelope;
      if (typeof msg.seq !== "number" || msg.seq <= last) return;
      last = msg.seq;
      on.event(msg);
    };
    ws.onclose = (c) => {
      clearInterval(ping);
      socket = null;
      if (stopped) return;
      // 1000: the execution finished and the server closed every stream; anything else is a drop.
      if (c.code === 1000) on.state("closed");
      else retry();
    };
  };
  const retry = () => {
    if (stopped) return;
    on.state("retrying");
    failures++;
    timer = setTimeout(connect, Math.min(10_000, 500 * 2 ** Math.min(failures, 5)));
  };
  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearInterval(ping);
    socket?.close(1000);
  };
}

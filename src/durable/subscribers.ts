import type { EventEnvelope } from "../engine/events";
import { config } from "../env";
import { problemResponse } from "../lib/problem";
import { tenantStub } from "./client";
import { afterTurn } from "./turn";

/** Socket attachment: `sys` is ours, `user` is reserved for callers (house style). */
interface Attachment {
  sys: { conn: string; lease_until: number | null };
  user: Record<string, unknown>;
}

interface SseSubscriber {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  lease_until: number | null;
}

export interface StreamRequest {
  transport: "websocket" | "sse";
  after: number;
  request_id: string | null;
  instance: string;
}

export interface SubscriberHost {
  executionId(): string;
  tenantId(): string;
  isTerminal(): boolean;
  /** Every event after `after`, in order. */
  replay(after: number): EventEnvelope[];
  /** Called when lease renewal times change, so the host re-arms its alarm. */
  rearm(): Promise<void>;
}

const encoder = new TextEncoder();
const ignore = () => undefined;

/**
 * The live subscribers of one execution: hibernatable WebSockets and SSE streams. A subscriber is replayed the
 * events it missed and joins the live set in one synchronous step, so nothing falls between replay and live.
 * Each holds a tenant-wide slot leased from the TenantObject; the lease expires unless renewed, so a slot a
 * crash leaked comes back on its own.
 */
export class Subscribers {
  private readonly sse = new Map<string, SseSubscriber>();
  private reserved = 0;
  private sockets: number | null = null;
  private heartbeating = false;
  private sent = false;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly host: SubscriberHost,
  ) {}

  count(): number {
    this.sockets ??= this.ctx.getWebSockets().length;
    return this.sockets + this.sse.size;
  }

  async connect(r: StreamRequest): Promise<Response> {
    const cfg = config(this.env);
    const conn = crypto.randomUUID();
    let leased = false;
    let refusal: string | null = null;
    if (!this.host.isTerminal()) {
      if (this.count() + this.reserved >= cfg.MAX_SUBSCRIBERS_PER_EXECUTION) {
        refusal = `execution subscriber limit reached (${cfg.MAX_SUBSCRIBERS_PER_EXECUTION} per execution)`;
      } else {
        this.reserved++;
        try {
          const lease = await tenantStub(this.env, this.host.tenantId()).acquire(
            "subscriber",
            conn,
            cfg.MAX_SUBSCRIBERS_PER_TENANT,
            cfg.SUBSCRIBER_LEASE_MS,
          );
          if (lease.ok) leased = true;
          else refusal = `tenant subscriber limit reached (${cfg.MAX_SUBSCRIBERS_PER_TENANT} per tenant)`;
        } finally {
          this.reserved--;
        }
      }
    }
    if (refusal) return r.transport === "websocket" ? refuseSocket(refusal) : this.refuseSse(r, refusal);
    const leaseUntil = leased ? Date.now() + cfg.SUBSCRIBER_LEASE_MS : null;
    const response =
      r.transport === "websocket"
        ? this.acceptSocket(conn, r.after, leaseUntil)
        : this.acceptSse(conn, r.after, leaseUntil);
    if (leaseUntil !== null && this.host.isTerminal()) this.release([conn]);
    else if (leaseUntil !== null) await this.host.rearm();
    return response;
  }

  /** Send one persisted event to every subscriber, in seq order. */
  broadcast(event: EventEnvelope): void {
    if (this.count() === 0) return;
    this.sent = true;
    const json = JSON.stringify(event);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(json);
      } catch {
        // A socket that is already closing gets its close handler; nothing to do here.
      }
    }
    if (this.sse.size === 0) return;
    const frame = encoder.encode(`id: ${event.seq}\ndata: ${json}\n\n`);
    for (const [conn, s] of this.sse) s.writer.write(frame).catch(() => this.dropSse(conn));
  }

  /** Was anything broadcast since the last time this was asked? Such events wait in the output gate for a commit. */
  sentSinceAsked(): boolean {
    const sent = this.sent;
    this.sent = false;
    return sent;
  }

  /**
   * The execution finished: close every stream normally and give back their slots. The closes run one turn later,
   * so the finishing event's commit, which is what lets the output gate release it, does not wait behind them.
   */
  closeAll(): void {
    const sockets = this.ctx.getWebSockets();
    const streams = [...this.sse];
    this.sse.clear();
    this.sockets = 0;
    afterTurn(() => {
      const leased: string[] = [];
      for (const ws of sockets) {
        const att = ws.deserializeAttachment() as Attachment | null;
        if (att?.sys.lease_until) leased.push(att.sys.conn);
        try {
          ws.close(1000, "execution finished");
        } catch {
          // Already closed.
        }
      }
      for (const [conn, s] of streams) {
        if (s.lease_until !== null) leased.push(conn);
        s.writer.close().catch(ignore);
      }
      if (leased.length) this.release(leased);
    });
  }

  // ---- WebSocket handlers (the hibernation API calls these on the host)

  onMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const size = typeof message === "string" ? encoder.encode(message).byteLength : message.byteLength;
    if (size > config(this.env).MAX_CLIENT_FRAME_BYTES) return this.closeSocket(ws, 1009, "frame too large");
    const msg = controlMessage(message);
    if (msg?.type === "ping") return ws.send(JSON.stringify({ type: "pong" }));
    if (msg?.type === "resume" && typeof msg.after === "number" && Number.isInteger(msg.after) && msg.after >= 0) {
      for (const e of this.host.replay(msg.after)) ws.send(JSON.stringify(e));
      return;
    }
    this.closeSocket(ws, 4400, 'unsupported message: send {"type":"ping"} or {"type":"resume","after":<seq>}');
  }

  onClose(ws: WebSocket): void {
    this.forget(ws);
  }

  // ---- lease renewal, driven by the host's alarm

  /** When the next slot lease needs renewing, or null when no subscriber holds one. */
  nextRenewal(): number | null {
    const half = config(this.env).SUBSCRIBER_LEASE_MS / 2;
    let next: number | null = null;
    for (const until of this.leaseTimes()) next = next === null ? until - half : Math.min(next, until - half);
    return next;
  }

  async renewDue(now: number): Promise<void> {
    const cfg = config(this.env);
    const due: string[] = [];
    const until = now + cfg.SUBSCRIBER_LEASE_MS;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (!att?.sys.lease_until || att.sys.lease_until - cfg.SUBSCRIBER_LEASE_MS / 2 > now) continue;
      due.push(att.sys.conn);
      ws.serializeAttachment({ ...att, sys: { ...att.sys, lease_until: until } } satisfies Attachment);
    }
    for (const [conn, s] of this.sse) {
      if (s.lease_until === null || s.lease_until - cfg.SUBSCRIBER_LEASE_MS / 2 > now) continue;
      due.push(conn);
      s.lease_until = until;
    }
    if (due.length) await tenantStub(this.env, this.host.tenantId()).renew(due, cfg.SUBSCRIBER_LEASE_MS);
  }

  // ---- internals

  private acceptSocket(conn: string, after: number, leaseUntil: number | null): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [conn, `exec:${this.host.executionId()}`, "subscriber"]);
    server.serializeAttachment({ sys: { conn, lease_until: leaseUntil }, user: {} } satisfies Attachment);
    this.sockets = null;
    for (const e of this.host.replay(after)) server.send(JSON.stringify(e));
    if (this.host.isTerminal()) this.closeSocket(server, 1000, "execution finished");
    return new Response(null, { status: 101, webSocket: client });
  }

  private acceptSse(conn: string, after: number, leaseUntil: number | null): Response {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    for (const e of this.host.replay(after))
      writer.write(encoder.encode(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`)).catch(ignore);
    if (this.host.isTerminal()) {
      writer.close().catch(ignore);
    } else {
      this.sse.set(conn, { writer, lease_until: leaseUntil });
      writer.closed.catch(() => this.dropSse(conn));
      void this.heartbeat();
    }
    return new Response(readable, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  }

  private refuseSse(r: StreamRequest, detail: string): Response {
    return problemResponse({
      status: 429,
      code: "subscriber_limit",
      detail,
      instance: r.instance,
      request_id: r.request_id,
      headers: { "retry-after": "5" },
    });
  }

  /** SSE has no ping frame: a comment line every SSE_HEARTBEAT_MS keeps proxies from closing idle streams. */
  private async heartbeat(): Promise<void> {
    if (this.heartbeating) return;
    this.heartbeating = true;
    const beat = encoder.encode(": heartbeat\n\n");
    try {
      while (this.sse.size > 0) {
        await scheduler.wait(config(this.env).SSE_HEARTBEAT_MS);
        for (const [conn, s] of this.sse) s.writer.write(beat).catch(() => this.dropSse(conn));
      }
    } finally {
      this.heartbeating = false;
    }
  }

  private dropSse(conn: string): void {
    const s = this.sse.get(conn);
    if (!s) return;
    this.sse.delete(conn);
    s.writer.abort().catch(ignore);
    if (s.lease_until !== null) this.release([conn]);
  }

  private closeSocket(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
    this.forget(ws);
  }

  private forget(ws: WebSocket): void {
    const att = ws.deserializeAttachment() as Attachment | null;
    this.sockets = null;
    if (att?.sys.lease_until) {
      ws.serializeAttachment({ ...att, sys: { ...att.sys, lease_until: null } } satisfies Attachment);
      this.release([att.sys.conn]);
    }
  }

  private release(conns: string[]): void {
    // A release that fails is not lost: the lease expires and the TenantObject reclaims the slot.
    this.ctx.waitUntil(tenantStub(this.env, this.host.tenantId()).release(conns).catch(ignore));
  }

  private *leaseTimes(): Iterable<number> {
    for (const ws of this.ctx.getWebSockets()) {
      const until = (ws.deserializeAttachment() as Attachment | null)?.sys.lease_until;
      if (until) yield until;
    }
    for (const s of this.sse.values()) if (s.lease_until !== null) yield s.lease_until;
  }
}

/** Accept then close with 4003: browsers cannot read an HTTP error from a failed WebSocket handshake. */
function refuseSocket(reason: string): Response {
  const pair = new WebSocketPair();
  const server = pair[1];
  server.accept();
  server.close(4003, reason);
  return new Response(null, { status: 101, webSocket: pair[0] });
}

function controlMessage(message: string | ArrayBuffer): { type?: unknown; after?: unknown } | null {
  if (typeof message !== "string") return null;
  try {
    const parsed: unknown = JSON.parse(message);
    return parsed && typeof parsed === "object" ? (parsed as { type?: unknown; after?: unknown }) : null;
  } catch {
    return null;
  }
}

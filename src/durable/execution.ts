import { childEvent } from "../engine/child";
import { ExecutionStore, type ExecRecord } from "../db/execution-store";
import type { ItemRecord } from "../db/map-store";
import { MapStore } from "../db/map-store";
import { config } from "../env";
import { TERMINAL_EXECUTION, type EventEnvelope, type ExecutionStatus } from "../engine/events";
import { render } from "../engine/expr";
import type { ItemStatus } from "../engine/map";
import { eventNames } from "../engine/events";
import { redrivePlan } from "../engine/redrive";
import { sha256Hex } from "../lib/hash";
import { problemResponse } from "../lib/problem";
import { ExecutionMaps } from "./execution-maps";
import { deleteOutputs } from "./outputs";
import { crashPoint } from "./faults";
import { executionView, type ExecutionView } from "./view";

export type StartParams = Pick<
  ExecRecord,
  | "id"
  | "tenant_id"
  | "workflow_id"
  | "version"
  | "definition"
  | "input"
  | "trace_id"
  | "labels"
  | "parent_execution_id"
  | "parent_node_id"
> & {
  timeout_seconds: number;
};

// How long after it ended an execution can still be redriven.
const REDRIVE_WINDOW_MS = 30 * 86_400_000;

/** One execution: its SQLite storage is the source of truth, its alarm the only timer. */
export class ExecutionObject extends ExecutionMaps {
  // ---- RPC API

  /** Create and start the execution; a second call with the same id returns the existing one unchanged. */
  async start(p: StartParams): Promise<{ id: string; status: ExecutionStatus; created: boolean }> {
    if (this.exec) return { id: this.exec.id, status: this.exec.status, created: false };
    await crashPoint({ point: "start.before", execution_id: p.id });
    if (this.exec)
      return { id: (this.exec as ExecRecord).id, status: (this.exec as ExecRecord).status, created: false };
    const now = Date.now();
    const exec: ExecRecord = {
      id: p.id,
      tenant_id: p.tenant_id,
      workflow_id: p.workflow_id,
      version: p.version,
      definition: p.definition,
      input: p.input,
      status: "queued",
      output: null,
      error_code: null,
      error_message: null,
      created_at: now,
      started_at: null,
      finished_at: null,
      deadline_at: now + p.timeout_seconds * 1000,
      flush_due_at: null,
      flush_attempts: 0,
      concurrency_key: null,
      trace_id: p.trace_id,
      labels: p.labels,
      labels_projected: 0,
      parent_execution_id: p.parent_execution_id,
      parent_node_id: p.parent_node_id,
      parent_notified: 0,
    };
    let keyError: string | null = null;
    if (p.definition.concurrency_key) {
      try {
        exec.concurrency_key =
          String(
            (await render(p.definition.concurrency_key, {
              input: p.input,
              nodes: {},
              execution: { id: p.id, workflow_id: p.workflow_id, version: p.version },
            })) ?? "",
          ) || null;
      } catch (err) {
        keyError = err instanceof Error ? err.message : String(err);
      }
    }
    this.store.createExecution(exec, p.definition.nodes);
    this.exec = exec;
    this.loadNodes();
    this.emit("execution.queued", null, {
      workflow_id: p.workflow_id,
      version: p.version,
      concurrency_key: exec.concurrency_key,
    });
    if (keyError !== null)
      this.finish("failed", { code: "concurrency_key_error", message: `concurrency_key: ${keyError}` });
    else if (await this.holdsKey()) this.markStarted();
    await this.ctx.storage.setAlarm(Date.now() + 1);
    await this.flush();
    await crashPoint({ point: "start.stored", execution_id: exec.id });
    return { id: exec.id, status: exec.status, created: true };
  }

  async cancel(tenantId: string, reason: string | null): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (TERMINAL_EXECUTION.has(exec.status)) return { status: exec.status, changed: false };
    this.finish("cancelled", { code: "cancelled", message: reason ?? "cancelled by request" });
    await this.settle();
    return { status: exec.status, changed: true };
  }

  /**
   * Run a finished execution again from its unsucceeded nodes, or from `from_node` and everything downstream.
   * Completed outputs and the event log are kept (new events continue the same seq); attempts keep counting,
   * so every new attempt has a new idempotency key, while the retry policy starts afresh.
   */
  async redrive(
    tenantId: string,
    opts: { from_node?: string | undefined; input_patch?: Record<string, unknown> | undefined },
  ): Promise<{ ok: true; status: ExecutionStatus } | { ok: false; code: string; message: string } | null> {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (!TERMINAL_EXECUTION.has(exec.status))
      return { ok: false, code: "execution_not_finished", message: `the execution is ${exec.status}` };
    if ((exec.finished_at ?? 0) < Date.now() - REDRIVE_WINDOW_MS)
      return {
        ok: false,
        code: "redrive_window_passed",
        message: "an execution can be redriven for 30 days after it ended",
      };
    const plan = redrivePlan(
      exec.definition,
      new Map([...this.nodes].map(([id, n]) => [id, n.status])),
      opts.from_node,
    );
    if (!plan.ok) return plan;
    const now = Date.now();
    for (const id of plan.reset) {
      const n = this.node(id);
      Object.assign(n, {
        status: "pending",
        due_at: null,
        started_at: null,
        finished_at: null,
        wait_event: null,
        output: null,
        error_code: null,
        error_message: null,
        attempt_base: n.attempt,
      });
    }
    if (opts.input_patch)
      exec.input =
        exec.input && typeof exec.input === "object" && !Array.isArray(exec.input)
          ? { ...(exec.input as object), ...opts.input_patch }
          : opts.input_patch;
    const timeout = exec.deadline_at - exec.created_at;
    Object.assign(exec, {
      status: "queued",
      finished_at: null,
      output: null,
      error_code: null,
      error_message: null,
      deadline_at: now + timeout,
    });
    this.runAbort = new AbortController();
    this.ctxData = null;
    this.emit("execution.redriven", null, {
      from_node: opts.from_node ?? null,
      reset: plan.reset,
      input_patched: Boolean(opts.input_patch),
    });
    const seq = this.store.lastSeq();
    for (const id of plan.reset) {
      const n = this.node(id);
      n.seq = seq;
      this.store.saveNode(n);
    }
    this.store.markDirty(plan.reset, seq);
    if (await this.holdsKey()) this.markStarted();
    await this.ctx.storage.setAlarm(Date.now() + 1);
    await this.settle();
    return { ok: true, status: exec.status };
  }

  /** Let running attempts finish but start nothing new; timers that fall due meanwhile fire after resume. */
  async pause(tenantId: string): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (exec.status !== "running" && exec.status !== "queued") return { status: exec.status, changed: false };
    exec.status = "paused";
    this.emit("execution.paused", null, {});
    await this.settle();
    return { status: exec.status, changed: true };
  }

  async resume(tenantId: string): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (exec.status !== "paused") return { status: exec.status, changed: false };
    // One that never got its concurrency key or running slot goes back to waiting for it.
    exec.status = exec.started_at === null ? "queued" : "running";
    this.emit("execution.resumed", null, {});
    await this.ctx.storage.setAlarm(Date.now() + 1);
    await this.settle();
    return { status: exec.status, changed: true };
  }

  /** A child execution (started by a `workflow` node) finished: delivered like an event named child:<id>. */
  async childFinished(
    tenantId: string,
    childId: string,
    result: { status: string; output: unknown; error: { code: string; message: string } | null },
  ): Promise<boolean> {
    const exec = this.owned(tenantId);
    if (!exec) return false;
    if (TERMINAL_EXECUTION.has(exec.status)) return true;
    const event = childEvent(childId);
    this.store.addToInbox(event, result, Date.now());
    const waiter = [...this.nodes.values()].find((n) => n.status === "waiting" && n.wait_event === event);
    if (waiter) this.deliverBuffered(waiter);
    const item = this.maps.waitingFor(event);
    if (item) this.childEndedForItem(item);
    await this.settle();
    return true;
  }

  /** Deliver a named event: completes the oldest node waiting for it, or is buffered for a later wait. */
  async sendEvent(
    tenantId: string,
    name: string,
    payload: unknown,
  ): Promise<
    | { accepted: boolean; status: ExecutionStatus; delivered_to: string | null }
    | { accepted: false; unknown: true; waits_for: string[] }
    | null
  > {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (TERMINAL_EXECUTION.has(exec.status)) return { accepted: false, status: exec.status, delivered_to: null };
    // An event nobody waits for would be buffered forever while the sender believes it was delivered.
    const names = eventNames(exec.definition, this.nodes.values());
    if (names && !names.includes(name)) return { accepted: false, unknown: true, waits_for: names };
    const now = Date.now();
    this.store.addToInbox(name, payload, now);
    this.emit("event.received", null, { name, payload: payload ?? null });
    const waiter = [...this.nodes.values()].find((n) => n.status === "waiting" && n.wait_event === name);
    if (waiter) this.deliverBuffered(waiter);
    await this.settle();
    return { accepted: true, status: exec.status, delivered_to: waiter?.id ?? null };
  }

  snapshot(tenantId: string): ExecutionView | null {
    const exec = this.owned(tenantId);
    return exec ? executionView(exec, this.nodes, (id) => this.maps.counts(id), this.store.usageTotals()) : null;
  }

  events(tenantId: string, after: number, limit: number): EventEnvelope[] | null {
    const exec = this.owned(tenantId);
    return exec ? this.store.events(exec.id, after, limit) : null;
  }

  /** Resolve with the execution once it has finished, or after `timeoutMs` with its state then. */
  async settled(tenantId: string, timeoutMs: number): Promise<ExecutionView | null> {
    const exec = this.owned(tenantId);
    if (!exec) return null;
    if (!TERMINAL_EXECUTION.has(exec.status)) {
      const timer = new AbortController();
      let wake = (): void => undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.waiters.add(resolve);
        scheduler.wait(timeoutMs, { signal: timer.signal }).then(resolve, () => undefined);
      }).finally(() => {
        timer.abort();
        this.waiters.delete(wake);
      });
    }
    return executionView(exec, this.nodes, (id) => this.maps.counts(id), this.store.usageTotals());
  }

  /**
   * The watchdog's nudge: re-project to D1 (refreshing projected_at) and re-arm the alarm for whatever is due,
   * so a run past its deadline times out and a stuck one resumes.
   */
  async poke(): Promise<{ status: ExecutionStatus } | null> {
    if (!this.exec) return null;
    this.store.touch();
    await this.settle();
    // A queued execution was probably just handed its concurrency key: try now rather than at the next poll.
    if (this.exec.status === "queued") await this.ctx.storage.setAlarm(Date.now() + 1);
    return { status: this.exec.status };
  }

  /**
   * Erasure (DELETE /v1/executions/:id): an unfinished run is cancelled first (its children and streams with it, its
   * slot and key released), then its storage and alarm are dropped. Afterwards the object answers "not found".
   */
  async erase(tenantId: string): Promise<boolean> {
    const exec = this.owned(tenantId);
    if (!exec) return false;
    if (!TERMINAL_EXECUTION.has(exec.status)) {
      this.finish("cancelled", { code: "cancelled", message: "erased by request" });
      await this.settle();
    }
    // A drive unwinding from the cancel still touches state: let it finish before the storage goes.
    for (let i = 0; i < 500 && (this.driving || this.flushing || this.inflight.size > 0); i++) await scheduler.wait(10);
    return this.purge();
  }

  /** Retention: drop a finished execution's storage and alarm; a running one is left alone. */
  async purge(): Promise<boolean> {
    if (this.exec && !TERMINAL_EXECUTION.has(this.exec.status)) return false;
    // Outputs kept in R2 go first: should this fail, the storage that names them is still here to retry from.
    if (this.exec) await deleteOutputs(this.env.ARTIFACTS, this.exec.id);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // A fresh, empty schema: the object answers "not found" from now on instead of failing on missing tables.
    this.store = new ExecutionStore(this.sql());
    this.maps = new MapStore(this.sql());
    this.exec = null;
    this.nodes.clear();
    return true;
  }

  /**
   * A node's output for GET .../nodes/:node_id/output: inline, or the reference to the value kept in R2. Null when
   * the execution is not the tenant's; `node: false` when it has no such node.
   */
  nodeOutput(tenantId: string, nodeId: string): { node: boolean; status: string | null; output: unknown } | null {
    if (!this.owned(tenantId)) return null;
    const n = this.nodes.get(nodeId);
    return n ? { node: true, status: n.status, output: n.output ?? null } : { node: false, status: null, output: null };
  }

  /** For the TenantObject checking a stale lease: does this execution still hold (or wait for) its key and slot? */
  holdsKeyLease(): boolean {
    return this.exec !== null && !TERMINAL_EXECUTION.has(this.exec.status);
  }

  ping(): string {
    return "pong";
  }

  /** A single-use ticket letting a browser open this execution's stream without an API key in the URL. */
  async issueTicket(tenantId: string): Promise<{ ticket: string; expires_at: string } | null> {
    if (!this.owned(tenantId)) return null;
    const ticket = `tk_${crypto.randomUUID().replace(/-/g, "")}${crypto.randomUUID().replace(/-/g, "")}`;
    const now = Date.now();
    const expiresAt = now + config(this.env).STREAM_TICKET_TTL_SECONDS * 1000;
    this.store.addTicket(await sha256Hex(ticket), expiresAt, now);
    return { ticket, expires_at: new Date(expiresAt).toISOString() };
  }

  /**
   * Only for stream upgrades (WebSocket or SSE); the Worker has authenticated the caller by API key
   * (x-edgeflow-tenant) or passes a ticket (x-edgeflow-ticket) for this object to check and use up.
   */
  override async fetch(request: Request): Promise<Response> {
    const h = request.headers;
    const r = {
      transport: h.get("upgrade")?.toLowerCase() === "websocket" ? ("websocket" as const) : ("sse" as const),
      after: Number(h.get("x-edgeflow-after") ?? "0"),
      request_id: h.get("x-request-id"),
      instance: h.get("x-edgeflow-instance") ?? "",
    };
    const tenant = h.get("x-edgeflow-tenant");
    const ticket = h.get("x-edgeflow-ticket");
    if (ticket !== null && !tenant) {
      const valid = this.exec !== null && this.store.consumeTicket(await sha256Hex(ticket), Date.now());
      if (!valid)
        return problemResponse({
          status: 401,
          code: "invalid_ticket",
          detail: "The stream ticket is unknown, expired, already used, or for another execution.",
          instance: r.instance,
          request_id: r.request_id,
        });
    } else if (!tenant || !this.owned(tenant)) {
      return problemResponse({
        status: 404,
        code: "execution_not_found",
        detail: "The execution does not exist.",
        instance: r.instance,
        request_id: r.request_id,
      });
    }
    return this.subscribers.connect(r);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.subscribers.onMessage(ws, message);
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    this.subscribers.onClose(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.subscribers.onClose(ws);
  }

  /** One page of a map node's items, in input order. */
  mapItems(
    tenantId: string,
    nodeId: string,
    status: ItemStatus | null,
    after: number,
    limit: number,
  ): { node: boolean; items: ItemRecord[] } | null {
    if (!this.owned(tenantId)) return null;
    if (this.defs.get(nodeId)?.kind !== "map") return { node: false, items: [] };
    return { node: true, items: this.maps.page(nodeId, status, after, limit) };
  }

  override async alarm(): Promise<void> {
    await this.guard(() => this.onAlarm());
  }
}

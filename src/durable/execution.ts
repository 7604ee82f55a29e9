import { DurableObject } from "cloudflare:workers";
import { ExecutionStore } from "../db/execution-store";
import type { ItemRecord } from "../db/map-store";
import { MapStore } from "../db/map-store";
import { config } from "../env";
import { childEvent } from "../engine/child";
import { TERMINAL_EXECUTION, eventNames, type EventEnvelope, type ExecutionStatus } from "../engine/events";
import type { Admitted } from "../engine/concurrency-key";
import type { ItemStatus } from "../engine/map";
import { itemNode } from "../engine/map";
import type { ChildEnd, KeyedRequest, RunInput } from "../engine/run/messages";
import { newExecution, nodeDef, pendingNode, runState, type NodeRecord, type StartParams } from "../engine/run/state";

import type { Definition } from "../engine/dag";
import type { ForkSource } from "../engine/fork";
import { planMigration, type MigrationAnswer } from "../engine/migration";
import { sha256Hex } from "../lib/hash";
import { problemResponse } from "../lib/problem";
import { RESET_REASON, type StartAnswer } from "./client";
import { ExecutionRun, type SlotState } from "./execution-run";
import { crashPoint, PlannedStop } from "./faults";
import { deliverToItem, mapConfig } from "./map-run";
import { deleteOutputs } from "./outputs";
import { resettingSql } from "./resetting-sql";
import { Subscribers } from "./subscribers";
import { executionView, type ExecutionView } from "./view";

export type { StartParams };

// The lease of a drive started by start(): the alarm resumes a run whose object died that long ago at most.
const KICK_LEASE_MS = 2_000;
// How long after it ended an execution can still be redriven.
const REDRIVE_WINDOW_MS = 30 * 86_400_000;
/** The steps scope a redrive's Idempotency-Key is kept under (node steps are scoped by their node's key). */
const REDRIVES = "redrive";

/**
 * One execution: its SQLite storage is the source of truth, its alarm the only timer. This class is the RPC, stream
 * and alarm surface; the run itself (input → step → persist → perform) is ExecutionRun's (execution-run.ts), and
 * `run` is null until the execution is created and again once it is erased: every entry point checks it once.
 */
export class ExecutionObject extends DurableObject<Env> {
  private store: ExecutionStore;
  private maps: MapStore;
  private run: ExecutionRun | null = null;
  private readonly subscribers: Subscribers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ExecutionStore(this.sql());
    this.maps = new MapStore(this.sql());
    this.subscribers = new Subscribers(ctx, env, {
      executionId: () => this.loaded().exec.id,
      tenantId: () => this.loaded().exec.tenant_id,
      isTerminal: () => TERMINAL_EXECUTION.has(this.loaded().exec.status),
      replay: (after) => this.loaded().replay(after),
      rearm: () => this.run?.rearm() ?? Promise.resolve(),
    });
    const exec = this.store.loadExecution();
    if (exec) this.run = this.runFor(exec);
  }

  /** The run of a stored execution; a new one passes its nodes (all pending, no event yet) instead of reading them. */
  private runFor(exec: NonNullable<ReturnType<ExecutionStore["loadExecution"]>>, fresh?: NodeRecord[]): ExecutionRun {
    const settings = { projectionFlushMs: config(this.env).PROJECTION_FLUSH_MS };
    const state = fresh
      ? runState(exec, fresh, 0, settings)
      : runState(exec, this.store.loadNodes(), this.store.lastSeq(), settings);
    return new ExecutionRun(
      { ctx: this.ctx, env: this.env, store: this.store, maps: this.maps, subscribers: this.subscribers },
      state,
    );
  }

  /** The run, for callers that only exist once it does (stream hosts). */
  private loaded(): ExecutionRun {
    if (!this.run) throw new Error("execution object used before its execution was created");
    return this.run;
  }

  /** The run, when it exists and belongs to `tenantId`; another tenant's execution looks absent. */
  private owned(tenantId: string): ExecutionRun | null {
    return this.run && this.run.exec.tenant_id === tenantId ? this.run : null;
  }

  // ---- RPC API

  /**
   * Create and start the execution; a second call with the same id returns the existing one unchanged. `admitted`:
   * the start pipeline (src/services/start.ts) rendered the concurrency key and asked the TenantObject; null for a
   * replay, which creates nothing: when the execution does not exist (its first start was cut off) the answer says
   * `unadmitted` and the pipeline admits it and calls again. `waitMs` (start and wait, Prefer: wait): the answer
   * then also carries the execution's view once it settled, or as it is when the wait ran out, in this one call.
   */
  async start(p: StartParams, admitted: Admitted | null, waitMs = 0): Promise<StartAnswer> {
    const began = await this.begin(p, admitted);
    const run = this.run;
    if (waitMs <= 0 || began.unadmitted || !run || run.exec.tenant_id !== p.tenant_id) return began;
    await run.finished(waitMs);
    return { ...began, view: this.view(run) };
  }

  private async begin(
    p: StartParams,
    admitted: Admitted | null,
  ): Promise<{ id: string; status: ExecutionStatus; created: boolean; unadmitted?: true }> {
    // Checked again after every await: a second start may have created it meanwhile.
    const existing = () => (this.run ? { id: this.run.exec.id, status: this.run.exec.status, created: false } : null);
    const found = existing();
    if (found) return found;
    await crashPoint({ point: "start.before", execution_id: p.id });
    const raced = existing();
    if (raced) return raced;
    if (!admitted) return { id: p.id, status: "queued", created: false, unadmitted: true };
    const rendered = admitted;
    const exec = newExecution(p, rendered.key, Date.now());
    this.store.createExecution(exec, p.definition.nodes);
    const run = (this.run = this.runFor(
      exec,
      p.definition.nodes.map((n) => pendingNode(n.id, n.kind)),
    ));
    run.feed({ type: "created", concurrencyKeyError: rendered.error, seeds: p.fork?.seeds });
    // The slot and the concurrency key are taken before answering: the TenantObject queues in the order it is
    // asked, and that order must be the order the starts arrived in. The D1 projection is not made here: GET by id
    // is this object's and sees the run at once, lists follow within PROJECTION_FLUSH_MS (the drive flushes when
    // it falls due), and a run that ends sooner is projected once, finished.
    if (rendered.error === null && admitted.granted) run.feed({ type: "slotGranted" });
    // A run that may go starts now, in this invocation, instead of one alarm dispatch later; the alarm armed first
    // (the drive's short lease) takes over within seconds should the object die. A queued one is polled by the
    // alarm as before.
    const running = exec.status === "running";
    await this.ctx.storage.setAlarm(Date.now() + (running ? KICK_LEASE_MS : 0));
    await crashPoint({ point: "start.stored", execution_id: exec.id });
    if (running) this.ctx.waitUntil(this.driveNow(run));
    return { id: exec.id, status: exec.status, created: true };
  }

  /** A drive outside the alarm handler: a failed step resets the object, and the lease alarm resumes the run. */
  private async driveNow(run: ExecutionRun): Promise<void> {
    try {
      await run.drive(KICK_LEASE_MS);
    } catch (err) {
      if (!(err instanceof PlannedStop)) this.reset(err);
    }
  }

  async cancel(tenantId: string, reason: string | null): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    return this.change(tenantId, { type: "cancelRequested", message: reason ?? "cancelled by request" });
  }

  /** Let running attempts finish but start nothing new; timers that fall due meanwhile fire after resume. */
  async pause(tenantId: string): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    return this.change(tenantId, { type: "paused" });
  }

  async resume(tenantId: string): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    return this.change(tenantId, { type: "resumed" });
  }

  /** Feed an input that changes the execution's status; `changed` is false when it was not in a status to take it. */
  private async change(
    tenantId: string,
    input: RunInput,
  ): Promise<{ status: ExecutionStatus; changed: boolean } | null> {
    const run = this.owned(tenantId);
    if (!run) return null;
    const before = run.exec.status;
    run.feed(input);
    const changed = run.exec.status !== before;
    if (changed && run.exec.status !== "paused") await this.ctx.storage.setAlarm(Date.now() + 1);
    await run.settle();
    return { status: run.exec.status, changed };
  }

  /** Run a finished execution again from its unsucceeded nodes, or from `from_node` and everything downstream. */
  async redrive(
    tenantId: string,
    opts: { from_node?: string | undefined; input_patch?: Record<string, unknown> | undefined },
    once?: KeyedRequest,
  ): Promise<
    | { ok: true; status: ExecutionStatus; replayed?: true }
    | { ok: false; code: string; message: string }
    | { ok: false; reused: true }
    | null
  > {
    const run = this.owned(tenantId);
    if (!run) return null;
    // A redrive sent again (its answer lost) must not run the nodes again: its key is kept with the execution.
    const earlier = once ? (this.store.stepValue(REDRIVES, once.key) as { hash: string } | undefined) : undefined;
    if (earlier)
      return earlier.hash === once?.hash
        ? { ok: true, status: run.exec.status, replayed: true }
        : { ok: false, reused: true };
    const input = { fromNode: opts.from_node, inputPatch: opts.input_patch, windowMs: REDRIVE_WINDOW_MS };
    const done = run.feed({ type: "redriven", ...input });
    if (done.refused) return { ok: false, ...done.refused };
    // Written in the redrive's own turn, so it commits with it.
    if (once) this.store.recordStep(REDRIVES, once.key, { hash: once.hash }, Date.now());
    run.restarted();
    if (await run.holdsKey()) run.feed({ type: "slotGranted" });
    await this.ctx.storage.setAlarm(Date.now() + 1);
    await run.settle();
    return { ok: true, status: run.exec.status };
  }

  /** What a fork of this execution starts from: its definition, input and nodes as committed now. */
  forkSource(tenantId: string): ForkSource | null {
    const run = this.owned(tenantId);
    if (!run) return null;
    const e = run.exec;
    const nodes = [...run.state.nodes.values()].map((n) => ({
      id: n.id,
      status: n.status,
      output: n.output,
      request_hash: n.request_hash,
    }));
    return {
      workflow_id: e.workflow_id,
      version: e.version,
      input: e.input,
      definition: e.definition,
      lane: e.lane,
      nodes,
    };
  }

  /**
   * Move this execution to another version of its workflow, or say why it cannot (src/engine/migration.ts), in one
   * call: decided again here on the state as it is now, applied in the same turn, nothing that ran runs again.
   */
  async migrate(
    tenantId: string,
    ask: { from: number; to: number; definition: unknown; node_map: Record<string, string>; dry_run: boolean },
  ): Promise<MigrationAnswer | null> {
    const run = this.owned(tenantId);
    if (!run) return null;
    const e = run.exec;
    const id = e.id;
    const blocked = (reason: string): MigrationAnswer => ({ execution_id: id, moved: false, movable: false, reason });
    if (TERMINAL_EXECUTION.has(e.status)) return blocked(`the execution has ${e.status}`);
    if (e.version === ask.to) return blocked(`already on version ${ask.to}`);
    if (e.version !== ask.from) return blocked(`the execution is on version ${e.version}`);
    if (run.inflight.size > 0) return blocked("an attempt is in flight; try again");
    const definition = ask.definition as Definition;
    const plan = planMigration(e.definition, definition, ask.to, ask.node_map, [...run.state.nodes.values()]);
    if (!plan.movable) return { execution_id: id, moved: false, ...plan };
    const said = { renamed: plan.renamed, added: plan.added.map((a) => a.id), removed: plan.removed };
    if (ask.dry_run) return { execution_id: id, moved: false, movable: true, ...said };
    this.store.applyMigration(definition, ask.to, { from_version: e.version, at_seq: run.state.lastSeq + 1 }, plan);
    run.feed({ type: "migrated", definition, version: ask.to, ...plan });
    run.restarted();
    // What the new version made ready runs on the alarm, not within the migration's call.
    await this.ctx.storage.setAlarm(Date.now() + 1);
    return { execution_id: id, moved: true, movable: true, ...said };
  }

  /** A child execution (started by a `workflow` node or a map item) finished. */
  async childFinished(tenantId: string, childId: string, result: ChildEnd): Promise<boolean> {
    const run = this.owned(tenantId);
    if (!run) return false;
    if (TERMINAL_EXECUTION.has(run.exec.status)) return true;
    run.feed({ type: "childFinished", childId, result });
    const item = this.maps.waitingFor(childEvent(childId));
    if (item) this.childEndedForItem(run, item);
    await run.settle();
    await this.askIfWoken(run);
    return true;
  }

  /** A map item's child execution ended: record it, and wake its map node if that was parked. */
  private childEndedForItem(run: ExecutionRun, item: ItemRecord): void {
    const mapNode = run.node(item.node_id);
    if (mapNode.status !== "running" && mapNode.status !== "waiting") return;
    const def = nodeDef(run.state, item.node_id);
    deliverToItem(this.maps, this.store, itemNode(def, mapConfig(def)), item);
    if (mapNode.status === "waiting")
      run.feed({ type: "mapUnparked", nodeId: item.node_id, counts: this.maps.counts(item.node_id) });
  }

  /**
   * Deliver a named event: completes the oldest node waiting for it, or is buffered for a later wait. With `once`
   * (the sender's Idempotency-Key) a retry is answered as the event it repeats, whatever happened since, and is
   * never received twice; the same key with another name or payload is refused.
   */
  async sendEvent(
    tenantId: string,
    name: string,
    payload: unknown,
    once?: KeyedRequest,
  ): Promise<
    | { accepted: boolean; status: ExecutionStatus; delivered_to: string | null; replayed?: true }
    | { accepted: false; unknown: true; waits_for: string[] }
    | { accepted: false; reused: true }
    | null
  > {
    const run = this.owned(tenantId);
    if (!run) return null;
    const exec = run.exec;
    const earlier = once ? this.store.inboxByKey(once.key) : null;
    if (earlier && earlier.request_hash !== once?.hash) return { accepted: false, reused: true };
    if (earlier) return { accepted: true, status: exec.status, delivered_to: earlier.consumed_by, replayed: true };
    if (TERMINAL_EXECUTION.has(exec.status)) return { accepted: false, status: exec.status, delivered_to: null };
    // An event nobody waits for would be buffered forever while the sender believes it was delivered.
    const names = eventNames(exec.definition, run.state.nodes.values());
    if (names && !names.includes(name)) return { accepted: false, unknown: true, waits_for: names };
    const done = run.feed({ type: "eventReceived", name, payload, ...(once ? { once } : {}) });
    const stored = done.commands.find((c) => c.type === "storeEvent");
    await run.settle();
    await this.askIfWoken(run);
    return { accepted: true, status: exec.status, delivered_to: stored?.consumedBy ?? null };
  }

  snapshot(tenantId: string): ExecutionView | null {
    const run = this.owned(tenantId);
    return run ? this.view(run) : null;
  }

  private view(run: ExecutionRun): ExecutionView {
    return executionView(run.exec, run.state.nodes, (id) => this.maps.counts(id), this.store.usageTotals());
  }

  events(tenantId: string, after: number, limit: number): EventEnvelope[] | null {
    const run = this.owned(tenantId);
    return run ? this.store.events(run.exec.id, after, limit) : null;
  }

  /** Resolve with the execution once it has finished, or after `timeoutMs` with its state then. */
  async settled(tenantId: string, timeoutMs: number): Promise<ExecutionView | null> {
    const run = this.owned(tenantId);
    if (!run) return null;
    await run.finished(timeoutMs);
    return this.view(run);
  }

  /**
   * The watchdog's nudge: re-project to D1 (refreshing projected_at) and re-arm the alarm for whatever is due,
   * so a run past its deadline times out and a stuck one resumes.
   */
  async poke(): Promise<{ status: ExecutionStatus } | null> {
    const run = this.run;
    if (!run) return null;
    await run.settle(true);
    // A queued (or parked and woken) execution was probably just let in: try now rather than at the next poll.
    if (run.exec.status === "queued" || run.asksForSlot()) await this.ctx.storage.setAlarm(Date.now() + 1);
    return { status: run.exec.status };
  }

  /** A parked run something just woke asks for its slot now; should it not get one, its poll asks again. */
  private async askIfWoken(run: ExecutionRun): Promise<void> {
    if (run.asksForSlot()) await this.ctx.storage.setAlarm(Date.now() + 1);
  }

  /**
   * Erasure (DELETE /v1/executions/:id): an unfinished run is cancelled first (its children and streams with it, its
   * slot and key released), then its storage and alarm are dropped. Afterwards the object answers "not found".
   */
  async erase(tenantId: string): Promise<boolean> {
    const run = this.owned(tenantId);
    if (!run) return false;
    if (!TERMINAL_EXECUTION.has(run.exec.status)) {
      run.feed({ type: "cancelRequested", message: "erased by request" });
      await run.settle();
    }
    // A drive unwinding from the cancel still touches state: let it finish before the storage goes.
    for (let i = 0; i < 500 && run.busy(); i++) await scheduler.wait(10);
    return this.purge();
  }

  /** Retention: drop a finished execution's storage and alarm; a running one is left alone. */
  async purge(): Promise<boolean> {
    if (this.run && !TERMINAL_EXECUTION.has(this.run.exec.status)) return false;
    // Outputs kept in R2 go first: should this fail, the storage that names them is still here to retry from.
    if (this.run) await deleteOutputs(this.env.ARTIFACTS, this.run.exec.id);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // Stores over the emptied storage, as for a new object: it answers "not found" from now on and writes nothing.
    this.store = new ExecutionStore(this.sql());
    this.maps = new MapStore(this.sql());
    this.run = null;
    return true;
  }

  /**
   * A node's output for GET .../nodes/:node_id/output: inline, or the reference to the value kept in R2. Null when
   * the execution is not the tenant's; `node: false` when it has no such node.
   */
  /** Whether this execution exists and is `tenantId`'s (what its R2 files may be read under). */
  owns(tenantId: string): boolean {
    return this.owned(tenantId) !== null;
  }

  nodeOutput(tenantId: string, nodeId: string): { node: boolean; status: string | null; output: unknown } | null {
    const run = this.owned(tenantId);
    if (!run) return null;
    const n = run.state.nodes.get(nodeId);
    return n ? { node: true, status: n.status, output: n.output ?? null } : { node: false, status: null, output: null };
  }

  /** One page of a map node's items, in input order. */
  mapItems(
    tenantId: string,
    nodeId: string,
    status: ItemStatus | null,
    after: number,
    limit: number,
  ): { node: boolean; items: ItemRecord[] } | null {
    const run = this.owned(tenantId);
    if (!run) return null;
    if (run.state.defs.get(nodeId)?.kind !== "map") return { node: false, items: [] };
    return { node: true, items: this.maps.page(nodeId, status, after, limit) };
  }

  /** For the TenantObject checking a stale lease: does this execution still hold (or wait for) its key? */
  holdsKeyLease(): boolean {
    return this.run !== null && !TERMINAL_EXECUTION.has(this.run.exec.status);
  }

  /** For the TenantObject checking a stale running-slot entry: what this execution holds of it. */
  slotState(): SlotState {
    return this.run ? this.run.slotState() : "none";
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

  // ---- streams and the alarm

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
    const problem = { instance: r.instance, request_id: r.request_id };
    if (ticket !== null && !tenant) {
      const valid = this.run !== null && this.store.consumeTicket(await sha256Hex(ticket), Date.now());
      if (!valid)
        return problemResponse({
          status: 401,
          code: "invalid_ticket",
          detail: "The stream ticket is unknown, expired, already used, or for another execution.",
          ...problem,
        });
    } else if (!tenant || !this.owned(tenant)) {
      return problemResponse({
        status: 404,
        code: "execution_not_found",
        detail: "The execution does not exist.",
        ...problem,
      });
    }
    return this.subscribers.connect(r);
  }

  // Hibernatable WebSocket handlers: a socket may outlive the execution it watched (erased meanwhile), and a
  // throw here would only reach the runtime's log, so each one is guarded and a closing socket is always answered.
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (!this.run) return ws.close(1011, "execution gone");
    try {
      this.subscribers.onMessage(ws, message);
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "websocket message failed", error: String(err) }));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.subscribers.onClose(ws);
    // Answer the client's close frame; with the runtime's own auto-reply it is already closed, which is fine.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.subscribers.onClose(ws);
  }

  override async alarm(): Promise<void> {
    const run = this.run;
    if (!run) return;
    try {
      await run.alarm();
    } catch (err) {
      // A step that throws (a storage write refused, a bug) may leave memory ahead of storage: reset the object so
      // the alarm's retry reloads from storage, which is the truth, and re-runs from there.
      if (!(err instanceof PlannedStop)) this.reset(err);
      throw err;
    }
  }

  private reset(err: unknown): void {
    const execution_id = this.run?.exec.id ?? null;
    const msg = "execution object reset after a failed step";
    console.error(JSON.stringify({ level: "error", msg, execution_id, error: String(err) }));
    this.ctx.abort(`${RESET_REASON}: reset after a failed step: ${String(err)}`);
  }

  /** The object's SQL storage; a statement that fails resets the object, whichever handler it ran in. */
  private sql(): SqlStorage {
    return resettingSql(this.ctx.storage.sql, (err) => this.reset(err));
  }
}

// The shell around one loaded execution: the loop "input → step → persist → perform" and the drive that feeds it.
// Everything decided is the reducer's (src/engine/run/step.ts); this file only does what it is told, and reads what
// the reducer cannot (the clock, storage, R2, the tenant's slots).
import { envelope } from "../db/execution-store";
import { config } from "../env";
import { logLine } from "../lib/log";
import { TERMINAL_EXECUTION, type EventEnvelope } from "../engine/events";
import { holds, UndefinedValueError, type ExprContext } from "../engine/expr";
import type { Lane } from "../engine/fair-share";
import type { ItemCounts } from "../engine/map";
import type { EmittedEvent, RunCommand, RunInput, StepResult } from "../engine/run/messages";
import { nodeRecord, unprojected, type NodeRecord, type RunState } from "../engine/run/state";
import { step } from "../engine/run/step";
import { asksForSlot, LEASE_MS, nextAlarm, owesParent } from "../engine/run/wake";
import { dueWaits, nextWake } from "../engine/scheduler";
import { executionStub, tenantStub } from "./client";
import { crashPoint } from "./faults";
import { launchAttempt, recordWake, type AttemptHost, type RunHost } from "./launch";
import { isOutputRef, loadOutput } from "./outputs";
import { projectOnce } from "./projection";
import { cancellableDelay, endTurn } from "./turn";

export type SlotState = "held" | "none" | { parked: { lane: Lane; group: string } };

const ATTEMPT_ENDS: ReadonlySet<string> = new Set([
  "node.succeeded",
  "node.failed",
  "node.retrying",
  "node.waiting",
  "node.cancelled",
]);

// Upper bound on one in-memory wait inside a drive; durable wake-ups are the alarm's job.
const MAX_IN_MEMORY_WAIT_MS = 5_000;

export class ExecutionRun implements AttemptHost {
  readonly inflight = new Map<string, Promise<void>>();
  /** Map nodes that used up this alarm invocation's item budget; the next invocation resumes them. */
  readonly yielded = new Set<string>();
  /** Map item attempts this alarm invocation may still start, shared by every map node. */
  readonly budget = { left: 0 };
  runAbort = new AbortController();
  private driving = false;
  private wake: (() => void) | null = null;
  private flushing: Promise<void> | null = null;
  private readonly waiters = new Set<() => void>();
  /** Outputs kept in R2, read back by $ref for expressions. */
  private readonly loaded = new Map<string, unknown>();
  outputsToLoad = true;
  private ctxData: ExprContext | null = null;
  private toEvaluate: { nodeId: string; expr: string }[] = [];
  /** The releases of the running slot on their way to the TenantObject, in order. */
  private slotCalls: Promise<void> = Promise.resolve();

  constructor(
    readonly h: RunHost,
    readonly state: RunState,
  ) {}

  get exec() {
    return this.state.exec;
  }

  // ---- the loop: one input, one step, its writes, its commands

  /** Synchronous from step to the last write, so the writes of one step commit together (the implicit transaction). */
  feed(input: RunInput): StepResult {
    const r = step(this.state, input, Date.now(), Math.random);
    for (const c of r.commands) {
      if (c.type !== "emit") continue;
      this.h.store.appendEvent(c.event);
      // An attempt's streamed text is folded into one row once the attempt has an outcome.
      if (c.event.nodeId !== null && ATTEMPT_ENDS.has(c.event.type))
        this.h.store.compactDeltas(c.event.nodeId, c.event.attempt);
    }
    for (const id of r.changedNodes) this.h.store.saveNode(this.node(id));
    if (r.execChanged) this.h.store.saveExecution(this.exec);
    // Persist first, then perform: a subscriber never sees an event the log could lose.
    for (const c of r.commands) this.perform(c);
    return r;
  }

  private perform(c: RunCommand): void {
    switch (c.type) {
      case "emit":
        return this.published(c.event);
      case "launchAttempt":
        return launchAttempt(this, c.nodeId, c.attempt, c.resume);
      case "recordWake":
        return recordWake(this, c.nodeId, c.key, c.value);
      case "releaseSlot":
        return this.releaseSlot();
      case "evaluateConditions":
        this.toEvaluate.push(...c.nodes);
        return;
      case "takeBuffered": {
        const event = this.h.store.takeFromInbox(c.name, c.nodeId);
        if (event) this.feed({ type: "bufferedTaken", nodeId: c.nodeId, event });
        return;
      }
      case "storeEvent":
        return this.h.store.addToInbox(c.name, c.payload, c.at, c.consumedBy, c.once);
      case "cancelChildren":
        return this.cancelChildren(c.ids, c.reason);
      case "stopMaps":
        this.cancelChildren(this.h.maps.awaitedChildren(), c.reason);
        return this.h.maps.cancelOpen(null, Date.now());
      case "ended":
        return this.ended();
    }
  }

  private published(e: EmittedEvent): void {
    const exec = this.exec;
    if (e.nodeId !== null && this.ctxData) {
      const n = this.node(e.nodeId);
      this.ctxData.nodes[n.id] = { status: n.status, output: this.readable(n.output) };
    }
    this.h.subscribers.broadcast(envelope(exec.id, e.seq, e.type, e.nodeId, e.attempt, e.at, e.data));
    if (e.nodeId !== null || !e.type.startsWith("execution.")) return;
    // One structured line per execution state change, joinable with request logs by trace_id. Written in the turn:
    // a line costs microseconds without a DevTools inspector (~0.7 ms with one), while deferring it past the turn
    // (a zero-delay timer) cost ~1 ms of workerd CPU per short execution (A/B under the bench Worker, LOG_LEVEL=info).
    const level = e.type === "execution.failed" || e.type === "execution.timed_out" ? "warn" : "info";
    const line = logLine(config(this.h.env).LOG_LEVEL, level, e.type, {
      execution_id: exec.id,
      tenant_id: exec.tenant_id,
      workflow_id: exec.workflow_id,
      trace_id: exec.trace_id,
      seq: e.seq,
      status: exec.status,
    });
    if (line !== null) console.log(line);
  }

  /** The run reached a terminal status: stop what is under way and let go of what it holds. */
  private ended(): void {
    this.runAbort.abort(new Error(`execution ${this.exec.status}`));
    this.h.subscribers.closeAll();
    // The slot and the key are released by the final projection (projection.ts), retried until it lands.
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  cancelChildren(ids: string[], reason: string): void {
    for (const childId of ids) {
      this.h.ctx.waitUntil(
        executionStub(this.h.env, childId)
          .cancel(this.exec.tenant_id, reason)
          .then(
            () => undefined,
            () => undefined,
          ),
      );
    }
  }

  // ---- the drive: feed the ticks, launch, await, until nothing can move

  async alarm(): Promise<void> {
    await crashPoint({ point: "alarm", execution_id: this.exec.id });
    const now = Date.now();
    const renewal = this.h.subscribers.nextRenewal();
    if (renewal !== null && renewal <= now) await this.h.subscribers.renewDue(now);
    if (!this.driving) {
      // Each alarm invocation has its own subrequest allowance: map items are started in chunks of this many.
      this.budget.left = config(this.h.env).MAP_ITEMS_PER_INVOCATION;
      this.yielded.clear();
    }
    await this.drive();
  }

  /**
   * Feed ticks until nothing can move. `leaseMs` is how far ahead the alarm stays armed meanwhile, should the object
   * die: a drive in the alarm handler is retried by the runtime at once when it dies, so a long lease is enough; one
   * started elsewhere (a new run, from start()) has only its lease to come back by, so it keeps it short.
   */
  async drive(leaseMs = LEASE_MS): Promise<void> {
    if (this.driving) {
      this.wake?.();
      return;
    }
    this.driving = true;
    try {
      let leaseUntil = 0;
      while (!TERMINAL_EXECUTION.has(this.exec.status)) {
        const now = Date.now();
        if (now - leaseUntil > -leaseMs / 2) {
          leaseUntil = now + leaseMs;
          await this.h.ctx.storage.setAlarm(leaseUntil);
        }
        if (this.exec.status !== "running") {
          this.tick(); // the deadline applies to queued and paused runs too
          if (this.exec.status === "paused") {
            // Attempts already under way finish and are recorded; nothing new starts until resume.
            if (this.inflight.size === 0) break;
            await this.nextChange(null);
            continue;
          }
          // Waiting for the concurrency key or a running slot: rearm polls, and whoever frees one wakes us.
          if (this.exec.status !== "queued" || !(await this.holdsKey())) break;
          this.feed({ type: "slotGranted" });
        }
        if (!(await this.loadOutputs())) break;
        const ticked = this.tick();
        if (this.exec.parked !== null) {
          // It gave its slot back while it waited: nothing runs until it has one again, asked for once it can move.
          if (this.exec.parked.wanted === null || !(await this.holdsKey())) break;
          this.feed({ type: "slotGranted" });
          continue;
        }
        if (await this.evaluateConditions()) continue;
        if (TERMINAL_EXECUTION.has(this.exec.status)) break;
        if (this.exec.flush_due_at !== null && this.exec.flush_due_at <= now) void this.flush();
        const due = nextWake(this.state.nodes.values(), [this.exec.deadline_at]);
        if (this.inflight.size === 0) {
          if (ticked.again || (due !== null && due <= Date.now())) continue;
          // At rest: a run that only waits gives its running slot back (the reducer decides whether it may).
          if (this.exec.status === "running") this.feed({ type: "idle" });
          break;
        }
        await this.nextChange(due);
        // CPU-only nodes never leave the microtask queue, so storage would not commit and the output gate would
        // hold every broadcast until the run ends. With subscribers watching, end the turn after every step.
        if (this.h.subscribers.count() > 0) await endTurn();
      }
    } finally {
      this.driving = false;
    }
    // A run that just ended: those waiting for it get their answer with this commit, before its bookkeeping
    // (the release and the final projection) takes the thread.
    if (TERMINAL_EXECUTION.has(this.exec.status)) await this.h.ctx.storage.sync();
    await this.settle();
  }

  private tick(): StepResult {
    const dueMapCounts = new Map<string, ItemCounts>();
    for (const n of dueWaits(this.state.nodes.values(), Date.now()))
      if (n.kind === "map") dueMapCounts.set(n.id, this.h.maps.counts(n.id));
    return this.feed({
      type: "timerFired",
      inflight: new Set(this.inflight.keys()),
      yielded: this.yielded,
      dueMapCounts,
    });
  }

  /** Answer the `when`s the last step asked about (JSONata is async, the reducer is not). */
  private async evaluateConditions(): Promise<boolean> {
    if (this.toEvaluate.length === 0) return false;
    const asked = this.toEvaluate;
    this.toEvaluate = [];
    const ctx = this.context();
    const results = await Promise.all(
      asked.map(async ({ nodeId, expr }) => ({
        nodeId,
        holds: await holds(expr, ctx).catch((err: unknown) =>
          err instanceof UndefinedValueError
            ? { error: err.at("when").message, code: "template_undefined" }
            : { error: err instanceof Error ? err.message : String(err) },
        ),
      })),
    );
    this.feed({ type: "conditionsEvaluated", results });
    return true;
  }

  /** Resolve on the first of: an attempt finishing, an RPC changing state, or the next due time. */
  private nextChange(due: number | null): Promise<unknown> {
    const waits: Promise<unknown>[] = [...this.inflight.values()];
    waits.push(new Promise<void>((resolve) => (this.wake = resolve)));
    // The timer is cancelled once the race is decided: a pending timer keeps the object from being evicted.
    const timer =
      due === null ? null : cancellableDelay(Math.min(MAX_IN_MEMORY_WAIT_MS, Math.max(0, due - Date.now())));
    if (timer) waits.push(timer.done);
    return Promise.race(waits).finally(() => {
      this.wake = null;
      timer?.cancel();
    });
  }

  /**
   * May this execution run now? It needs its concurrency key (if any) first, then one of the tenant's slots. Asked
   * after any release still on its way, so the TenantObject sees the two in the order they were made.
   */
  async holdsKey(): Promise<boolean> {
    const exec = this.exec;
    await this.slotCalls;
    // A queued run's place was taken when it started (with its lane): this renews it, or places it in the default
    // lane should the place have been lost. A parked one asks in the lane it was woken for.
    const queue = { ...this.slotAsk(), key: exec.concurrency_key, lane: exec.parked?.wanted ?? "default" };
    return (await tenantStub(this.h.env, exec.tenant_id).admit({ queue })).granted;
  }

  private slotAsk(): { executionId: string; slots: number; group: string } {
    const slots = config(this.h.env).MAX_RUNNING_EXECUTIONS_PER_TENANT;
    return { executionId: this.exec.id, slots, group: this.exec.workflow_id };
  }

  /**
   * Give the running slot back while the run waits. Chained, so a later ask cannot overtake it; a release that does
   * not arrive is caught by the TenantObject's stale-holder check, which asks this object (slotState).
   */
  private releaseSlot(): void {
    const tenant = tenantStub(this.h.env, this.exec.tenant_id);
    const ask = { ...this.slotAsk(), lane: this.exec.lane };
    this.slotCalls = this.slotCalls
      .then(() => tenant.park(ask))
      .catch((err: unknown) => logLostPark(ask.executionId, err));
    this.h.ctx.waitUntil(this.slotCalls);
  }

  /**
   * For the TenantObject's stale-entry check: the run has ended, gave its slot back while it waits (in its lane and
   * workflow), or holds its entry (a slot, or its place while it asks for one).
   */
  slotState(): SlotState {
    const e = this.exec;
    if (TERMINAL_EXECUTION.has(e.status)) return "none";
    if (e.parked !== null && e.parked.wanted === null) return { parked: { lane: e.lane, group: e.workflow_id } };
    return "held";
  }

  /** A parked run something woke: ask for the slot now rather than at the next poll. */
  asksForSlot(): boolean {
    return this.exec.status === "running" && asksForSlot(this.exec);
  }

  busy(): boolean {
    return this.driving || this.flushing !== null || this.inflight.size > 0;
  }

  // ---- after a change: projection, parent, alarm

  /** After state changed outside a drive: land the projection, tell the parent, arm the alarm for what is next. */
  async settle(reproject = false): Promise<void> {
    if (this.driving) this.wake?.();
    if (this.flushing) await this.flushing;
    if (reproject || unprojected(this.state).any) await this.flush(reproject);
    await this.notifyParent();
    await this.rearm();
  }

  /** A finished child tells its parent; until that lands, the projection's timer keeps waking us to try again. */
  private async notifyParent(): Promise<void> {
    const exec = this.exec;
    if (!owesParent(exec)) return;
    try {
      await executionStub(this.h.env, exec.parent_execution_id as string).childFinished(exec.tenant_id, exec.id, {
        status: exec.status,
        output: exec.output ?? null,
        error: exec.error_code ? { code: exec.error_code, message: exec.error_message ?? "" } : null,
      });
      this.feed({ type: "parentNotified" });
    } catch (err) {
      this.feed({ type: "parentNotifyFailed" });
      const parent = exec.parent_execution_id;
      const msg = "parent notification failed; retrying by alarm";
      console.error(JSON.stringify({ level: "error", msg, execution_id: exec.id, parent, error: String(err) }));
    }
  }

  async rearm(): Promise<void> {
    if (this.driving) return;
    const due = nextAlarm(this.state, Date.now(), this.h.subscribers.nextRenewal());
    if (due === null) await this.h.ctx.storage.deleteAlarm();
    else await this.h.ctx.storage.setAlarm(Math.max(due, Date.now() + 1));
  }

  /** Write the dirty part of the state to D1. A failure is retried by the alarm with backoff, never dropped. */
  flush(force = false): Promise<void> {
    this.flushing ??= projectOnce(this, force).finally(() => (this.flushing = null));
    return this.flushing;
  }

  /** Resolve once the run has finished, or after `timeoutMs`. */
  async finished(timeoutMs: number): Promise<void> {
    if (TERMINAL_EXECUTION.has(this.exec.status)) return;
    const timer = cancellableDelay(timeoutMs);
    let wake = (): void => undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      this.waiters.add(resolve);
      void timer.done.then(resolve);
    }).finally(() => {
      timer.cancel();
      this.waiters.delete(wake);
    });
  }

  /** Every logged event after `after`, read in pages so a long log does not load at once. */
  replay(after: number): EventEnvelope[] {
    const out: EventEnvelope[] = [];
    for (let page = this.h.store.events(this.exec.id, after, 1000); page.length > 0;) {
      out.push(...page);
      page = this.h.store.events(this.exec.id, (page.at(-1) as EventEnvelope).seq, 1000);
    }
    return out;
  }

  // ---- what expressions see

  /**
   * Read back the outputs kept in R2, once per instance, so expressions see values, not references (bounded by
   * OUTPUT_BUDGET_BYTES). One that is gone fails the run loudly rather than feeding a reference downstream.
   */
  private async loadOutputs(): Promise<boolean> {
    // Most runs keep every output inline: the scan runs only after a reference was made or loaded from storage.
    if (!this.outputsToLoad) return true;
    this.outputsToLoad = false;
    for (const n of this.state.nodes.values()) {
      if (!isOutputRef(n.output) || this.loaded.has(n.output.$ref)) continue;
      const value = await loadOutput(this.h.env.ARTIFACTS, n.output);
      if (value === undefined) {
        this.feed({ type: "outputMissing", nodeId: n.id, ref: n.output.$ref });
        return false;
      }
      this.loaded.set(n.output.$ref, value);
      this.ctxData = null;
    }
    return true;
  }

  /** An output kept in R2 reaches expressions as its value (loadOutputs has read it), anything else as it is. */
  private readable(output: unknown): unknown {
    return isOutputRef(output) && this.loaded.has(output.$ref) ? this.loaded.get(output.$ref) : output;
  }

  context(): ExprContext {
    const exec = this.exec;
    this.ctxData ??= {
      input: exec.input,
      nodes: Object.fromEntries(
        [...this.state.nodes.values()].map((n) => [n.id, { status: n.status, output: this.readable(n.output) }]),
      ),
      execution: { id: exec.id, workflow_id: exec.workflow_id, version: exec.version },
    };
    return this.ctxData;
  }

  /** A redrive (or anything else that changed the input) makes the cached context and the abort signal stale. */
  restarted(): void {
    this.runAbort = new AbortController();
    this.ctxData = null;
  }

  node(id: string): NodeRecord {
    return nodeRecord(this.state, id);
  }
}

function logLostPark(executionId: string, err: unknown): void {
  const msg = "running slot not given back while parked; the TenantObject's stale-holder check takes over";
  console.error(JSON.stringify({ level: "warn", msg, execution_id: executionId, error: String(err) }));
}

import { childIdOf, childWait } from "../engine/child";
import { DurableObject } from "cloudflare:workers";
import { openDb } from "../db/client";
import { envelope, ExecutionStore, type ExecRecord, type NodeRecord } from "../db/execution-store";
import { MapStore } from "../db/map-store";
import { projectExecution } from "../db/repo";
import { config } from "../env";
import type { NodeDef } from "../engine/dag";
import {
  TERMINAL_EXECUTION,
  TERMINAL_NODE,
  executionEventType,
  type EventEnvelope,
  type EventType,
  type ExecutionStatus,
} from "../engine/events";
import type { ExprContext } from "../engine/expr";
import { DEFAULT_RETRY_POLICY, decideRetry, type AttemptError } from "../engine/retry";
import { dueWaits, nextWake, plan } from "../engine/scheduler";
import { executors } from "../nodes";
import type { RunResult } from "../nodes/types";
import { childOutcome } from "../nodes/workflow";
import { runAttempt } from "./attempt";
import { executionStub, releaseKey, RESET_REASON, RUNNING_SLOTS, tenantStub } from "./client";
import { crashPoint, PlannedStop } from "./faults";
import type { MapOutcome } from "./map-run";
import { projectionRetryDelay, projectionRows } from "./projection";
import { runServices } from "./services";
import { resettingSql } from "./resetting-sql";
import { Subscribers } from "./subscribers";
import { isOutputRef, loadOutput, storeOutput, storedBytes } from "./outputs";
import { afterTurn, endTurn } from "./turn";

// While a drive is under way an alarm stays armed this far ahead, so a crash mid-run is picked up again.
const LEASE_MS = 60_000;
// How often a queued execution asks again for its concurrency key, should the holder's wake-up be lost.
const QUEUE_POLL_MS = 5_000;
// Upper bound on one in-memory wait inside a drive; durable wake-ups are the alarm's job.
const MAX_IN_MEMORY_WAIT_MS = 5_000;

/**
 * The engine half of an ExecutionObject: its state, the drive loop, node and execution transitions, the event log
 * and the D1 projection. ExecutionMaps (execution-maps.ts) adds map nodes; ExecutionObject (execution.ts) adds the
 * RPC API, streams and the alarm entry point.
 */
export abstract class ExecutionCore extends DurableObject<Env> {
  protected store: ExecutionStore;
  protected maps: MapStore;
  /** Map item attempts this alarm invocation may still start; map nodes that used it up wait for the next one. */
  protected readonly budget = { left: 0 };
  protected readonly yielded = new Set<string>();
  protected exec: ExecRecord | null;
  protected readonly nodes = new Map<string, NodeRecord>();
  protected defs = new Map<string, NodeDef>();
  protected ctxData: ExprContext | null = null;
  protected readonly inflight = new Map<string, Promise<void>>();
  protected runAbort = new AbortController();
  protected driving = false;
  protected wake: (() => void) | null = null;
  protected flushing: Promise<void> | null = null;
  protected readonly waiters = new Set<() => void>();
  /** Outputs kept in R2, read back by $ref for expressions. */
  protected readonly loaded = new Map<string, unknown>();
  protected outputsToLoad = true;

  protected readonly subscribers: Subscribers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ExecutionStore(this.sql());
    this.maps = new MapStore(this.sql());
    this.exec = this.store.loadExecution();
    this.loadNodes();
    this.subscribers = new Subscribers(ctx, env, {
      executionId: () => (this.exec as ExecRecord).id,
      tenantId: () => (this.exec as ExecRecord).tenant_id,
      isTerminal: () => TERMINAL_EXECUTION.has((this.exec as ExecRecord).status),
      replay: (after) => this.replay(after),
      rearm: () => this.rearm(),
    });
  }

  protected async onAlarm(): Promise<void> {
    if (!this.exec) return;
    await crashPoint({ point: "alarm", execution_id: this.exec.id });
    const now = Date.now();
    const renewal = this.subscribers.nextRenewal();
    if (renewal !== null && renewal <= now) await this.subscribers.renewDue(now);
    if (!this.driving) {
      // Each alarm invocation has its own subrequest allowance: map items are started in chunks of this many.
      this.budget.left = config(this.env).MAP_ITEMS_PER_INVOCATION;
      this.yielded.clear();
    }
    await this.drive();
  }

  /**
   * A step that throws (a storage write refused, a bug) may leave this instance's memory ahead of its storage: reset
   * the object so the next call or alarm retry reloads from storage, which is the truth, and re-runs from there.
   */
  protected async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof PlannedStop)) this.reset(err);
      throw err;
    }
  }

  protected reset(err: unknown): void {
    console.error(
      JSON.stringify({
        level: "error",
        msg: "execution object reset after a failed step",
        execution_id: this.exec?.id ?? null,
        error: String(err),
      }),
    );
    this.ctx.abort(`${RESET_REASON}: reset after a failed step: ${String(err)}`);
  }

  /** The object's SQL storage; a statement that fails resets the object, whichever handler it ran in. */
  protected sql(): SqlStorage {
    return resettingSql(this.ctx.storage.sql, (err) => this.reset(err));
  }

  // ---- the drive loop: plan, launch, await, record, until nothing can move

  protected async drive(): Promise<void> {
    if (this.driving) {
      this.wake?.();
      return;
    }
    this.driving = true;
    try {
      let leaseUntil = 0;
      for (;;) {
        const exec = this.exec as ExecRecord;
        if (TERMINAL_EXECUTION.has(exec.status)) break;
        const now = Date.now();
        if (now - leaseUntil > -LEASE_MS / 2) {
          leaseUntil = now + LEASE_MS;
          await this.ctx.storage.setAlarm(leaseUntil);
        }
        if (now >= exec.deadline_at) {
          const seconds = Math.round((exec.deadline_at - exec.created_at) / 1000);
          this.finish("timed_out", {
            code: "execution_timeout",
            message: `execution exceeded its timeout of ${seconds} s`,
          });
          break;
        }
        if (exec.status === "paused") {
          // Attempts already under way finish and are recorded; nothing new starts until resume.
          if (this.inflight.size === 0) break;
          await this.nextChange(null);
          continue;
        }
        if (exec.status === "queued") {
          // Waiting for the concurrency key or a running slot: rearm polls, and whoever frees one wakes us.
          if (!(await this.holdsKey())) break;
          this.markStarted();
        }
        if (!(await this.loadOutputs())) break;
        for (const n of dueWaits(this.nodes.values(), now)) this.settleWait(n);
        // Attempts recorded as running but not in flight here were cut off by an eviction: re-run the same attempt.
        for (const n of this.nodes.values())
          if (n.status === "running" && !this.inflight.has(n.id) && !this.yielded.has(n.id)) this.launch(n, true);
        const decided = await plan(exec.definition, this.nodes, this.context(), now, (id, message) =>
          this.failNode(this.node(id), { code: "condition_error", message, retryable: false }, "fatal"),
        );
        for (const s of decided.skipped) this.skipNode(this.node(s.id), s.reason, s.detail);
        if (decided.done && this.inflight.size === 0) {
          this.complete(decided.done);
          break;
        }
        for (const id of decided.ready) {
          if (this.inflight.size >= exec.definition.max_parallel) break;
          if (!this.inflight.has(id)) this.launch(this.node(id), false);
        }
        if (
          (this.exec as ExecRecord).flush_due_at !== null &&
          ((this.exec as ExecRecord).flush_due_at as number) <= now
        )
          void this.flush();
        const due = nextWake(this.nodes.values(), [exec.deadline_at]);
        if (this.inflight.size === 0) {
          if (decided.skipped.length > 0 || (due !== null && due <= Date.now())) continue;
          break;
        }
        await this.nextChange(due);
        // CPU-only nodes never leave the microtask queue, so storage would not commit and the output gate would
        // hold every broadcast until the run ends. With subscribers watching, end the turn after every step.
        if (this.subscribers.count() > 0) await endTurn();
      }
    } finally {
      this.driving = false;
    }
    await this.settle();
  }

  /** Resolve on the first of: an attempt finishing, an RPC changing state, or the next due time. */
  protected nextChange(due: number | null): Promise<unknown> {
    const waits: Promise<unknown>[] = [...this.inflight.values()];
    waits.push(new Promise<void>((resolve) => (this.wake = resolve)));
    // The timer is cancelled once the race is decided: a pending timer keeps the object from being evicted.
    const timer = new AbortController();
    if (due !== null) {
      const ms = Math.min(MAX_IN_MEMORY_WAIT_MS, Math.max(0, due - Date.now()));
      waits.push(scheduler.wait(ms, { signal: timer.signal }).catch(() => undefined));
    }
    return Promise.race(waits).finally(() => {
      this.wake = null;
      timer.abort();
    });
  }

  /** After state changed outside a drive: land the projection, then arm the alarm for what is due next. */
  protected async settle(): Promise<void> {
    if (this.driving) {
      this.wake?.();
    }
    if (this.flushing) await this.flushing;
    if (this.store.dirty().keys.length > 0) await this.flush();
    await this.notifyParent();
    await this.rearm();
  }

  /** A finished child tells its parent; until that lands, the flush timer keeps waking us to try again. */
  protected async notifyParent(): Promise<void> {
    const exec = this.exec;
    if (!exec?.parent_execution_id || exec.parent_notified || !TERMINAL_EXECUTION.has(exec.status)) return;
    try {
      await executionStub(this.env, exec.parent_execution_id).childFinished(exec.tenant_id, exec.id, {
        status: exec.status,
        output: exec.output ?? null,
        error: exec.error_code ? { code: exec.error_code, message: exec.error_message ?? "" } : null,
      });
      exec.parent_notified = 1;
    } catch (err) {
      exec.flush_due_at = Math.min(
        exec.flush_due_at ?? Infinity,
        Date.now() + projectionRetryDelay(++exec.flush_attempts),
      );
      console.error(
        JSON.stringify({
          level: "error",
          msg: "parent notification failed; retrying by alarm",
          execution_id: exec.id,
          parent: exec.parent_execution_id,
          error: String(err),
        }),
      );
    }
    this.store.saveExecution(exec);
  }

  /**
   * When this object will act next at the latest, as told to D1 for the watchdog: the lease alarm while work is under
   * way, the queue poll while queued, else the earliest timer or the deadline. Null once finished.
   */
  protected expectedWake(now: number): number | null {
    const exec = this.exec as ExecRecord;
    if (TERMINAL_EXECUTION.has(exec.status)) return null;
    if (exec.status === "queued") return now + QUEUE_POLL_MS;
    if (exec.status === "paused") return exec.deadline_at;
    if ([...this.nodes.values()].some((n) => n.status === "running" || n.status === "pending")) return now + LEASE_MS;
    return nextWake(this.nodes.values(), [exec.deadline_at]);
  }

  protected async rearm(): Promise<void> {
    if (this.driving || !this.exec) return;
    const exec = this.exec;
    const active = !TERMINAL_EXECUTION.has(exec.status);
    const running = exec.status === "running";
    // Work to do now: nodes to start or resume, or every node finished and the run still to be concluded.
    const nodes = [...this.nodes.values()];
    const hasWork =
      running &&
      (nodes.some((n) => n.status === "pending" || n.status === "running") ||
        nodes.every((n) => TERMINAL_NODE.has(n.status)));
    const due = nextWake(running ? this.nodes.values() : [], [
      active ? exec.deadline_at : null,
      exec.flush_due_at,
      hasWork ? Date.now() : null,
      this.subscribers.nextRenewal(),
      exec.status === "queued" ? Date.now() + QUEUE_POLL_MS : null,
    ]);
    if (due === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(due, Date.now() + 1));
  }

  // ---- node transitions (persist first; every transition emits exactly one event)

  protected launch(node: NodeRecord, resume: boolean): void {
    const exec = this.exec as ExecRecord;
    if (!resume) {
      node.attempt += 1;
      node.status = "running";
      node.due_at = null;
      node.started_at ??= Date.now();
      this.emit("node.started", node, { kind: node.kind });
    }
    const attempt = node.attempt;
    if (node.kind === "map") {
      this.track(node.id, attempt, this.runMap(node, attempt), (outcome) => this.recordMap(node.id, attempt, outcome));
      return;
    }
    const executor = executors[node.kind];
    const run = (): Promise<RunResult> =>
      executor
        ? runAttempt(executor, this.def(node.id), this.context(), {
            executionId: exec.id,
            attempt,
            attemptBase: node.attempt_base,
            runSignal: this.runAbort.signal,
            now: Date.now(),
            services: runServices(this.env, this.store, exec, node.id, attempt, (m) =>
              this.subscribers.broadcastTransient(m),
            ),
          }).then((result) => this.storeLarge(node.id, attempt, result))
        : Promise.resolve({
            ok: false,
            error: { code: "unknown_kind", message: `no executor for kind "${node.kind}"`, retryable: false },
          });
    // With subscribers watching, node.started goes out before the attempt's own work (a transform is CPU only)
    // instead of waiting for it in the same turn.
    const work = !resume && this.subscribers.count() > 0 ? endTurn().then(run) : run();
    this.track(node.id, attempt, work, (result) => this.record(node.id, attempt, result));
  }

  /** Keep an attempt in flight until its result is recorded, with the crash points on either side of the record. */
  private track<T>(nodeId: string, attempt: number, work: Promise<T>, record: (result: T) => void): void {
    const site = { execution_id: (this.exec as ExecRecord).id, node_id: nodeId, attempt };
    const done = work
      .then(async (result) => {
        await crashPoint({ ...site, point: "attempt.returned" });
        record(result);
        await crashPoint({ ...site, point: "completion.stored" });
      })
      .finally(() => this.inflight.delete(nodeId));
    this.inflight.set(nodeId, done);
  }

  /** Map nodes (execution-maps.ts): run an attempt's items, record how that run ended, wake a parked map node. */
  protected abstract runMap(node: NodeRecord, attempt: number): Promise<MapOutcome>;
  protected abstract recordMap(id: string, attempt: number, outcome: MapOutcome): void;
  protected abstract unparkMap(node: NodeRecord): void;

  protected cancelChildren(ids: string[], reason: string): void {
    const exec = this.exec as ExecRecord;
    for (const childId of ids) {
      this.ctx.waitUntil(
        executionStub(this.env, childId)
          .cancel(exec.tenant_id, reason)
          .then(
            () => undefined,
            () => undefined,
          ),
      );
    }
  }

  protected record(id: string, attempt: number, result: RunResult): void {
    const node = this.node(id);
    // The run was cancelled or timed out, or this is a stale attempt: its result no longer counts.
    if (node.status !== "running" || node.attempt !== attempt) return;
    if (!("ok" in result)) {
      const wait = "child" in result ? childWait(result.child.execution_id) : result.wait;
      node.status = "waiting";
      node.due_at = wait.until;
      node.wait_event = wait.event;
      // A child wait names its execution as data, so clients need not parse the event name.
      const child = "child" in result ? { child: result.child } : {};
      this.emit("node.waiting", node, { until: iso(wait.until), event: wait.event, ...child });
      if (wait.event) this.deliverBuffered(node);
      return;
    }
    if (result.ok) return this.succeedNode(node, result.output);
    this.failOrRetry(node, attempt, result.error);
  }

  protected failOrRetry(node: NodeRecord, attempt: number, error: AttemptError): void {
    const policy = this.def(node.id).retry ?? DEFAULT_RETRY_POLICY;
    const decision = decideRetry(policy, attempt - node.attempt_base, error, Math.random);
    if (!decision.retry) return this.failNode(node, error, decision.reason);
    Object.assign(node, {
      status: "retrying",
      due_at: Date.now() + decision.delay_ms,
      wait_event: null,
      error_code: error.code,
      error_message: error.message,
    });
    this.emit("node.retrying", node, { error, delay_ms: decision.delay_ms, next_attempt_at: iso(node.due_at) });
  }

  protected deliverBuffered(node: NodeRecord): void {
    const event = this.store.takeFromInbox(node.wait_event as string, node.id);
    if (!event) return;
    if (node.kind !== "workflow") {
      this.succeedNode(node, { name: node.wait_event, payload: event.payload, received_at: iso(event.received_at) });
      return;
    }
    // A child's end: success is the node's output; anything else is a failed attempt under the node's retry policy.
    const result = childOutcome(
      childIdOf(node.wait_event) as string,
      event.payload as Parameters<typeof childOutcome>[1],
    );
    if (!("ok" in result)) return;
    if (result.ok) this.succeedNode(node, result.output);
    else this.failOrRetry(node, node.attempt, result.error);
  }

  protected settleWait(node: NodeRecord): void {
    if (node.kind === "map") {
      this.unparkMap(node);
    } else if (node.wait_event) {
      this.failNode(
        node,
        { code: "wait_timeout", message: `no "${node.wait_event}" event before the timeout`, retryable: false },
        "fatal",
      );
    } else {
      this.succeedNode(node, { woke_at: iso(Date.now()) });
    }
  }

  /** `extra` rides on the event: a map node's final item counts, so a client folding events ends on the right ones. */
  protected succeedNode(node: NodeRecord, output: unknown, extra: Record<string, unknown> = {}): void {
    Object.assign(node, {
      status: "succeeded",
      output: output ?? null,
      due_at: null,
      finished_at: Date.now(),
      error_code: null,
      error_message: null,
    });
    this.emit("node.succeeded", node, { output: node.output, ...extra });
  }

  protected failNode(node: NodeRecord, error: AttemptError, reason: string, extra: Record<string, unknown> = {}): void {
    Object.assign(node, {
      status: "failed",
      due_at: null,
      finished_at: Date.now(),
      error_code: error.code,
      error_message: error.message,
    });
    this.emit("node.failed", node, { error, reason, ...extra });
  }

  protected skipNode(node: NodeRecord, reason: string, detail: string): void {
    Object.assign(node, { status: "skipped", due_at: null, finished_at: Date.now() });
    this.emit("node.skipped", node, { reason, detail });
  }

  // ---- execution transitions

  protected complete(done: { status: "succeeded" | "failed"; failed_nodes: string[] }): void {
    if (done.status === "failed") {
      this.finish("failed", { code: "node_failed", message: `failed nodes: ${done.failed_nodes.join(", ")}` });
      return;
    }
    const needed = new Set((this.exec as ExecRecord).definition.nodes.flatMap((n) => n.needs));
    const output = Object.fromEntries(
      [...this.nodes.values()]
        .filter((n) => !needed.has(n.id) && n.status === "succeeded")
        .map((n) => [n.id, n.output]),
    );
    this.finish("succeeded", null, output);
  }

  /** Move the execution to a terminal status; unfinished nodes are cancelled and in-flight attempts aborted. */
  protected finish(
    status: ExecutionStatus,
    error: { code: string; message: string } | null,
    output: unknown = null,
  ): void {
    const exec = this.exec as ExecRecord;
    const now = Date.now();
    // Children still awaited by this run are cancelled with it (each then tells us, and we ignore it).
    const children = [...this.nodes.values()].filter(
      (n) => n.kind === "workflow" && n.status === "waiting" && childIdOf(n.wait_event) !== null,
    );
    // Map items live in their own table: only a run with map nodes needs to look there.
    const hasMaps = exec.definition.nodes.some((n) => n.kind === "map");
    this.cancelChildren(
      [...children.map((n) => childIdOf(n.wait_event) as string), ...(hasMaps ? this.maps.awaitedChildren() : [])],
      `parent ${exec.id} ${status}`,
    );
    if (hasMaps) this.maps.cancelOpen(null, now);
    for (const n of this.nodes.values()) {
      if (TERMINAL_NODE.has(n.status)) continue;
      Object.assign(n, { status: "cancelled", due_at: null, finished_at: now });
      this.emit("node.cancelled", n, { reason: status });
    }
    Object.assign(exec, {
      status,
      finished_at: now,
      output,
      error_code: error?.code ?? null,
      error_message: error?.message ?? null,
    });
    this.emit(executionEventType(status), null, {
      ...(error ? { error } : {}),
      ...(status === "succeeded" ? { output } : {}),
    });
    this.runAbort.abort(new Error(`execution ${status}`));
    this.subscribers.closeAll();
    // Fire and forget: a release lost to a crash here is found by the TenantObject once its lease is stale.
    const slots = config(this.env).MAX_RUNNING_EXECUTIONS_PER_TENANT;
    this.ctx.waitUntil(
      crashPoint({ point: "release.before", execution_id: exec.id }).then(() => releaseKey(this.env, exec, slots)),
    );
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  // ---- storage, events and projection

  protected emit(type: EventType, node: NodeRecord | null, data: Record<string, unknown>): void {
    const exec = this.exec as ExecRecord;
    const now = Date.now();
    const attempt = node ? node.attempt : null;
    const seq = this.store.appendEvent(type, node?.id ?? null, attempt, now, data);
    if (node) {
      node.seq = seq;
      this.store.saveNode(node);
      if (this.ctxData) this.ctxData.nodes[node.id] = { status: node.status, output: this.readable(node.output) };
    }
    const flushArmed = exec.flush_due_at === null;
    if (flushArmed) exec.flush_due_at = now + config(this.env).PROJECTION_FLUSH_MS;
    // Node events leave the execution row alone unless they arm the flush: one write less per node on the hot path.
    // Every change to the execution itself is followed by an execution event, which writes it.
    if (!node || flushArmed) this.store.saveExecution(exec);
    // Persist first, then broadcast: a subscriber never sees an event the log could lose.
    this.subscribers.broadcast(envelope(exec.id, seq, type, node?.id ?? null, attempt, now, data));
    if (!node && type.startsWith("execution.")) {
      // One structured line per execution state change, joinable with request logs by trace_id. Written after the
      // turn: a log line must not hold back the event it describes.
      const line = JSON.stringify({
        level: type === "execution.failed" || type === "execution.timed_out" ? "warn" : "info",
        msg: type,
        execution_id: exec.id,
        tenant_id: exec.tenant_id,
        workflow_id: exec.workflow_id,
        trace_id: exec.trace_id,
        seq,
        status: exec.status,
      });
      afterTurn(() => console.log(line));
    }
  }

  /** Every logged event after `after`, read in pages so a long log does not load at once. */
  protected replay(after: number): EventEnvelope[] {
    const exec = this.exec as ExecRecord;
    const out: EventEnvelope[] = [];
    for (
      let page = this.store.events(exec.id, after, 1000);
      page.length > 0;
      page = this.store.events(exec.id, (page.at(-1) as EventEnvelope).seq, 1000)
    ) {
      out.push(...page);
    }
    return out;
  }

  /** Write the dirty part of the state to D1. A failure is retried by the alarm with backoff, never dropped. */
  protected flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = null));
    return this.flushing;
  }

  protected async flushOnce(): Promise<void> {
    // Building the projection takes milliseconds: let events already broadcast commit and go out first.
    if (this.subscribers.sentSinceAsked()) await endTurn();
    const exec = this.exec as ExecRecord;
    const { keys, upTo } = this.store.dirty();
    const usage = this.store.unprojectedUsage();
    if (keys.length === 0 && usage.length === 0) {
      exec.flush_due_at = null;
      this.store.saveExecution(exec);
      return;
    }
    const now = Date.now();
    const rows = projectionRows(exec, this.nodes, keys, this.store.lastSeq(), now, this.expectedWake(now));
    try {
      await projectExecution(
        openDb(this.env.DB).db,
        rows.execution,
        rows.nodes,
        usage,
        exec.labels_projected ? null : exec.labels,
      );
      exec.labels_projected = 1;
      this.store.clearDirty(upTo);
      this.store.markUsageProjected(usage.map((u) => u.id));
      exec.flush_attempts = 0;
      exec.flush_due_at = this.store.dirty().keys.length > 0 ? Date.now() + config(this.env).PROJECTION_FLUSH_MS : null;
    } catch (err) {
      exec.flush_attempts += 1;
      exec.flush_due_at = Date.now() + projectionRetryDelay(exec.flush_attempts);
      console.error(
        JSON.stringify({
          level: "error",
          msg: "projection failed; retrying by alarm",
          execution_id: exec.id,
          attempts: exec.flush_attempts,
          error: String(err),
        }),
      );
    }
    this.store.saveExecution(exec);
  }

  // ---- helpers

  protected markStarted(): void {
    const exec = this.exec as ExecRecord;
    exec.status = "running";
    exec.started_at = Date.now();
    this.emit("execution.started", null, {});
  }

  /**
   * May this execution run now? It needs its concurrency key (if any) first, then one of the tenant's running slots.
   */
  protected async holdsKey(): Promise<boolean> {
    const exec = this.exec as ExecRecord;
    const tenant = tenantStub(this.env, exec.tenant_id);
    if (exec.concurrency_key && !(await tenant.acquireKey(exec.concurrency_key, exec.id)).granted) return false;
    return (await tenant.acquireKey(RUNNING_SLOTS, exec.id, config(this.env).MAX_RUNNING_EXECUTIONS_PER_TENANT))
      .granted;
  }

  /** The execution, when it exists and belongs to `tenantId`; another tenant's execution looks absent. */
  protected owned(tenantId: string): ExecRecord | null {
    return this.exec && this.exec.tenant_id === tenantId ? this.exec : null;
  }

  protected loadNodes(): void {
    this.nodes.clear();
    for (const n of this.store.loadNodes()) this.nodes.set(n.id, n);
    this.defs = new Map((this.exec?.definition.nodes ?? []).map((n) => [n.id, n]));
    this.ctxData = null;
  }

  /** An output kept in R2 reaches expressions as its value (loadOutputs has read it), anything else as it is. */
  protected readable(output: unknown): unknown {
    return isOutputRef(output) && this.loaded.has(output.$ref) ? this.loaded.get(output.$ref) : output;
  }

  /** Write an attempt's output to R2 when it is too big for a row; the node then holds the reference. */
  private storeLarge(nodeId: string, attempt: number, result: RunResult): Promise<RunResult> {
    const cfg = config(this.env);
    const limits = {
      inline: cfg.MAX_INLINE_OUTPUT_BYTES,
      budget: cfg.OUTPUT_BUDGET_BYTES,
      stored: () => storedBytes(this.nodes.values()),
    };
    return storeOutput(this.env.ARTIFACTS, (this.exec as ExecRecord).id, nodeId, attempt, result, limits).then((r) => {
      if ("ok" in r && r.ok && isOutputRef(r.output)) this.outputsToLoad = true;
      return r;
    });
  }

  /**
   * Read back the outputs kept in R2, once per instance, so expressions see values, not references (bounded by
   * OUTPUT_BUDGET_BYTES). One that is gone fails the run loudly rather than feeding a reference downstream.
   */
  protected async loadOutputs(): Promise<boolean> {
    // Most runs keep every output inline: the scan runs only after a reference was made or loaded from storage.
    if (!this.outputsToLoad) return true;
    this.outputsToLoad = false;
    for (const n of this.nodes.values()) {
      if (!isOutputRef(n.output) || this.loaded.has(n.output.$ref)) continue;
      const value = await loadOutput(this.env.ARTIFACTS, n.output);
      if (value === undefined) {
        this.finish("failed", {
          code: "output_missing",
          message: `the stored output of node "${n.id}" (${n.output.$ref}) is gone`,
        });
        return false;
      }
      this.loaded.set(n.output.$ref, value);
      this.ctxData = null;
    }
    return true;
  }

  protected context(): ExprContext {
    const exec = this.exec as ExecRecord;
    this.ctxData ??= {
      input: exec.input,
      nodes: Object.fromEntries(
        [...this.nodes.values()].map((n) => [n.id, { status: n.status, output: this.readable(n.output) }]),
      ),
      execution: { id: exec.id, workflow_id: exec.workflow_id, version: exec.version },
    };
    return this.ctxData;
  }

  protected node(id: string): NodeRecord {
    return this.nodes.get(id) as NodeRecord;
  }

  protected def(id: string): NodeDef {
    return this.defs.get(id) as NodeDef;
  }
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

import { childIdOf, childOutcome, childWait } from "../engine/child";
import type { ExecutionStore } from "../db/execution-store";
import type { ItemRecord, MapStore } from "../db/map-store";
import type { NodeDef } from "../engine/dag";
import { evaluate, UndefinedValueError, type ExprContext } from "../engine/expr";
import {
  checkItems,
  itemNode,
  mapConfigSchema,
  mapResult,
  openItems,
  type ItemCounts,
  type MapConfig,
} from "../engine/map";
import { DEFAULT_RETRY_POLICY, decideRetry, type AttemptError } from "../engine/retry";
import { sha256Hex } from "../lib/hash";
import { executors } from "../nodes";
import type { RunResult, RunServices } from "../nodes/types";
import { runAttempt } from "./attempt";
import { crashPoint } from "./faults";

/**
 * How a run of the map runner ended: the node's result; parked until a retry falls due or a child execution
 * ends (null: only a child can wake it); or yielded, to go on in the next alarm invocation.
 */
export type MapOutcome =
  | { done: { ok: true; output: unknown } | { ok: false; error: AttemptError } }
  | { park: number | null }
  | { yield: "budget" | "paused" | "aborted" };

export interface MapRunDeps {
  executionId: string;
  /** The map node and the attempt of it this run belongs to. */
  node: NodeDef;
  attempt: number;
  items: MapStore;
  inbox: ExecutionStore;
  ctx: ExprContext;
  /** Aborted when the execution ends. */
  signal: AbortSignal;
  /** False while the execution is paused: in-flight items finish, nothing new starts. */
  canStart(): boolean;
  /**
   * Item attempts this alarm invocation may still start, shared by every map node (subrequest limits are per
   * invocation).
   */
  budget: { left: number };
  services(attempt: number): RunServices;
  progress(counts: ItemCounts, reason: "progress" | "chunk"): void;
  cancelChildren(ids: string[]): void;
}

// A retry due sooner than this is awaited in memory; a later one parks the node on the alarm.
const MAX_IN_MEMORY_WAIT_MS = 5_000;
// Progress events per map, at most (plus one per chunk and one per resume from a park).
const PROGRESS_STEPS = 20;

/** Parse a stored map node's config (definitions keep configs as written, so defaults are applied here). */
export function mapConfig(node: NodeDef): MapConfig {
  return mapConfigSchema.parse(node.config);
}

/**
 * Runs a map node's items with at most `max_concurrency` in flight, each an attempt of the item node under its own
 * retry policy and idempotency key (`<execution>:<node>[<index>]:<attempt>`). Item state is in storage after every
 * transition, so a run cut off by an eviction resumes where it was; attempts then in flight re-run with the same key.
 */
export class MapRun {
  private readonly inflight = new Map<number, Promise<void>>();
  private readonly cfg: MapConfig;
  private readonly item: NodeDef;
  private failed = 0;
  private completed = 0;
  private step = 1;

  constructor(private readonly d: MapRunDeps) {
    this.cfg = mapConfig(d.node);
    this.item = itemNode(d.node, this.cfg);
  }

  async run(): Promise<MapOutcome> {
    const id = this.d.node.id;
    let laid = this.d.items.run(id);
    if (laid?.attempt !== this.d.attempt) {
      const refused = await this.layOut();
      if (refused) return { done: refused };
      laid = this.d.items.run(id);
    }
    const total = laid?.total ?? 0;
    this.step = Math.max(1, Math.ceil(total / PROGRESS_STEPS));
    this.failed = this.d.items.counts(id).failed;
    for (const orphan of this.d.items.running(id)) this.start(orphan, true);
    for (;;) {
      if (this.d.signal.aborted) {
        await Promise.allSettled(this.inflight.values());
        return { yield: "aborted" };
      }
      const stopping = this.failed > this.cfg.tolerated_failures;
      if (!stopping) this.fill();
      if (this.inflight.size > 0) {
        await Promise.race(this.inflight.values());
        continue;
      }
      if (stopping) return this.stop();
      const counts = this.d.items.counts(id);
      this.failed = counts.failed;
      if (this.failed > this.cfg.tolerated_failures) continue;
      if (openItems(counts) === 0) return { done: mapResult(this.d.items.finished(id), this.cfg.tolerated_failures) };
      if (!this.d.canStart()) return { yield: "paused" };
      if (this.d.budget.left <= 0) {
        this.d.progress(counts, "chunk");
        return { yield: "budget" };
      }
      // Every slot held by an item waiting for its child: only a child's end frees one (and wakes the node).
      if (counts.waiting >= this.cfg.max_concurrency) return { park: null };
      const due = this.d.items.nextDue(id);
      const now = Date.now();
      if (counts.pending > 0 || (due !== null && due <= now)) continue;
      if (due !== null && due - now <= MAX_IN_MEMORY_WAIT_MS) {
        await scheduler.wait(due - now, { signal: this.d.signal }).catch(() => undefined);
        continue;
      }
      // node.waiting, emitted for this park, carries the counts.
      return { park: due };
    }
  }

  /** Evaluate `items` and lay them out in storage for this attempt; returns the node's failure if it cannot. */
  private async layOut(): Promise<{ ok: false; error: AttemptError } | null> {
    let value: unknown;
    try {
      value = await evaluate(this.cfg.items, this.d.ctx);
    } catch (err) {
      if (err instanceof UndefinedValueError)
        return {
          ok: false,
          error: { code: "template_undefined", message: err.at("config.items").message, retryable: false },
        };
      return {
        ok: false,
        error: {
          code: "expression_error",
          message: `items: ${err instanceof Error ? err.message : String(err)}`,
          retryable: false,
        },
      };
    }
    if (value === undefined)
      return {
        ok: false,
        error: {
          code: "template_undefined",
          message: new UndefinedValueError("config.items", this.cfg.items).message,
          retryable: false,
        },
      };
    const checked = checkItems(value);
    if (!checked.ok) return checked;
    if (!executors[this.item.kind])
      return {
        ok: false,
        error: { code: "unknown_kind", message: `no executor for kind "${this.item.kind}"`, retryable: false },
      };
    this.d.items.layOut(this.d.node.id, this.d.attempt, checked.items, await sha256Hex(JSON.stringify(checked.items)));
    return null;
  }

  /**
   * Start items until max_concurrency, the invocation's budget, or pause stops it. An item waiting for its child
   * execution counts against max_concurrency like one in flight: the limit bounds the children running at once.
   */
  private fill(): void {
    const busy = this.inflight.size + this.d.items.waitingCount(this.d.node.id);
    const room = Math.min(this.cfg.max_concurrency - busy, this.d.budget.left);
    if (room <= 0 || !this.d.canStart()) return;
    for (const item of this.d.items.startable(this.d.node.id, Date.now(), room)) this.start(item, false);
  }

  private start(item: ItemRecord, resume: boolean): void {
    if (!resume) {
      Object.assign(item, { status: "running", attempt: item.attempt + 1, due_at: null, wait_event: null });
      item.started_at ??= Date.now();
      this.d.items.save(item);
    }
    this.d.budget.left -= 1;
    const attempt = item.attempt;
    const work = runAttempt(
      executors[this.item.kind] as NonNullable<(typeof executors)[string]>,
      this.item,
      { ...this.d.ctx, item: item.item, index: item.idx },
      {
        executionId: this.d.executionId,
        attempt,
        attemptBase: item.attempt_base,
        subject: `${this.d.node.id}[${item.idx}]`,
        runSignal: this.d.signal,
        now: Date.now(),
        services: this.d.services(attempt),
      },
    );
    const site = { execution_id: this.d.executionId, node_id: `${this.d.node.id}[${item.idx}]`, attempt };
    const done = work
      .then(async (result) => {
        await crashPoint({ ...site, point: "attempt.returned" });
        // The execution ended meanwhile: finish() has already cancelled every open item.
        if (this.d.signal.aborted) return;
        if (settleItem(this.d.items, this.d.inbox, this.item, item, result) === "failed") this.failed += 1;
        if (++this.completed % this.step === 0) this.d.progress(this.d.items.counts(this.d.node.id), "progress");
        await crashPoint({ ...site, point: "completion.stored" });
      })
      .finally(() => this.inflight.delete(item.idx));
    this.inflight.set(item.idx, done);
  }

  /** More items failed than tolerated: the rest are cancelled (children included) and the node fails. */
  private stop(): MapOutcome {
    const id = this.d.node.id;
    this.d.cancelChildren(this.d.items.awaitedChildren(id));
    this.d.items.cancelOpen(id, Date.now());
    return { done: mapResult(this.d.items.finished(id), this.cfg.tolerated_failures) };
  }
}

/**
 * Record an item attempt's result: its output, a retry under the item node's policy, its failure, or a wait for a
 * child execution (completed at once when the child's end is already in the inbox). Returns the item's new status.
 */
export function settleItem(
  items: MapStore,
  inbox: ExecutionStore,
  def: NodeDef,
  item: ItemRecord,
  result: RunResult,
): ItemRecord["status"] {
  const now = Date.now();
  if (!("ok" in result)) {
    const wait = "child" in result ? childWait(result.child.execution_id) : result.wait;
    Object.assign(item, { status: "waiting", due_at: wait.until, wait_event: wait.event });
    items.save(item);
    return wait.event ? deliverToItem(items, inbox, def, item) : item.status;
  }
  if (result.ok) {
    Object.assign(item, {
      status: "succeeded",
      output: result.output ?? null,
      due_at: null,
      wait_event: null,
      finished_at: now,
      error_code: null,
      error_message: null,
    });
  } else {
    const decision = decideRetry(
      def.retry ?? DEFAULT_RETRY_POLICY,
      item.attempt - item.attempt_base - item.deferrals,
      result.error,
      Math.random,
    );
    if (decision.retry && decision.deferred) item.deferrals += 1;
    Object.assign(item, {
      status: decision.retry ? "retrying" : "failed",
      due_at: decision.retry ? now + decision.delay_ms : null,
      wait_event: null,
      finished_at: decision.retry ? null : now,
      error_code: result.error.code,
      error_message: result.error.message,
    });
  }
  items.save(item);
  return item.status;
}

/** A waiting item takes its child's end from the inbox, if it has arrived. */
export function deliverToItem(
  items: MapStore,
  inbox: ExecutionStore,
  def: NodeDef,
  item: ItemRecord,
): ItemRecord["status"] {
  const event = item.wait_event as string;
  const taken = inbox.takeFromInbox(event, `${item.node_id}[${item.idx}]`);
  if (!taken) return item.status;
  const childId = childIdOf(event) as string;
  return settleItem(
    items,
    inbox,
    def,
    item,
    childOutcome(childId, taken.payload as Parameters<typeof childOutcome>[1]),
  );
}

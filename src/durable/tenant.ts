import { DurableObject } from "cloudflare:workers";
import { BudgetStore } from "../db/budget-store";
import { openDb } from "../db/client";
import { LeaseStore } from "../db/lease-store";
import { SlotStore } from "../db/slot-store";
import { monthSpend, projectExecutions, type Projection } from "../db/history-repo";
import { historyDatabase } from "../db/shards";
import type { QueueAsk } from "../engine/concurrency-key";
import { take, type Bucket, type RateDecision } from "../engine/rate";
import { config } from "../env";
import { GroupCommit } from "../lib/group-commit";
import { executionStub, RUNNING_SLOTS } from "./client";

// Stale holders one ask checks at most: each is an RPC, and the next poll checks the next ones.
const STALE_CHECKS_PER_ASK = 3;
// Final projections one D1 batch carries at most (each is a few statements; D1 batches are one transaction).
const PROJECTIONS_PER_BATCH = 20;

/** Stream subscribers, or the one migration of a workflow applying at a time (`migration:<workflow id>`). */
export type LeaseKind = "subscriber" | `migration:${string}`;

/** A request token to take from an API key's bucket (starts through the API). */
export interface TokenAsk {
  keyId: string;
  perMinute: number;
  burst: number;
}

export type TokenDecision = Omit<RateDecision, "bucket">;

/** One per tenant: counters that must agree across isolates (subscriber slots, concurrency keys, rate limits). */
export class TenantObject extends DurableObject<Env> {
  private readonly leases: LeaseStore;
  private readonly slots: SlotStore;
  private readonly ledger: BudgetStore;
  // Buckets live in memory: an eviction refills them, which errs on the side of letting requests through.
  private readonly buckets = new Map<string, Bucket>();
  /** Per history shard: the final projections of this tenant's executions, written to D1 in groups. */
  private readonly history = new Map<number, GroupCommit<Projection>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.leases = new LeaseStore(ctx.storage.sql);
    this.slots = new SlotStore(ctx.storage.sql);
    this.ledger = new BudgetStore(ctx.storage.sql);
    // Running slots were a FIFO key queue before lanes: its entries wait in the default lane, in their order.
    this.slots.adopt(this.leases.drain(RUNNING_SLOTS));
  }

  acquire(kind: LeaseKind, id: string, limit: number, ttlMs: number): { ok: boolean; active: number } {
    const now = Date.now();
    return this.leases.acquire(kind, id, limit, now + ttlMs, now);
  }

  release(ids: string[]): void {
    this.leases.release(ids);
  }

  renew(ids: string[], ttlMs: number): void {
    this.leases.renew(ids, Date.now() + ttlMs);
  }

  /**
   * Concurrency keys (and running slots): `capacity` executions at a time per key, the rest wait in arrival order.
   * Every entry is a lease, renewed each time its execution asks (queued ones ask every few seconds). Whoever asks
   * also has the holders whose lease ran out checked with their own objects, which know whether they still run: a
   * finished one whose release was lost (a crash between its end and the release) is dropped, a live one renewed.
   * A waiter waits for that check; a caller let in has it done after the answer. So a lost release holds a key for at
   * most KEY_LEASE_SECONDS plus one poll, the running-slot count heals by itself, and no holder renews while it waits.
   */
  async acquireKey(key: string, executionId: string, capacity = 1): Promise<{ granted: boolean; position: number }> {
    const ttl = this.leaseMs();
    const asked = this.leases.acquireKey(key, executionId, capacity, Date.now() + ttl);
    const stale = this.leases
      .staleHolders(key, capacity, Date.now(), STALE_CHECKS_PER_ASK)
      .filter((id) => id !== executionId);
    if (stale.length === 0) return asked;
    const checked = this.dropFinished(key, capacity, stale, ttl);
    if (asked.granted) {
      this.ctx.waitUntil(checked);
      return asked;
    }
    await checked;
    return this.leases.acquireKey(key, executionId, capacity, Date.now() + ttl);
  }

  /**
   * The watchdog's sweep: check every entry whose lease ran out, in any queue, with its own object, and drop those
   * that finished (their release was lost). Returns how many were checked and dropped.
   */
  async reconcile(max = 20): Promise<{ checked: number; dropped: number }> {
    const ttl = this.leaseMs();
    const stale = this.leases.staleEntries(Date.now(), max);
    const running = await Promise.all(
      stale.map((e) =>
        executionStub(this.env, e.execution_id)
          .holdsKeyLease()
          .catch(() => true),
      ),
    );
    stale.forEach((e, i) =>
      running[i]
        ? this.leases.renewKey(e.key, e.execution_id, Date.now() + ttl)
        : this.leases.releaseKey(e.key, e.execution_id, 1),
    );
    const slots = this.slots.staleEntries(Date.now(), max);
    const dropped = await this.dropFinishedSlots(slots, config(this.env).MAX_RUNNING_EXECUTIONS_PER_TENANT, ttl);
    return {
      checked: stale.length + slots.length,
      dropped: running.filter((r) => !r).length + dropped,
    };
  }

  /** How long a concurrency key or running slot is held without its holder renewing it (KEY_LEASE_SECONDS). */
  private leaseMs(): number {
    return config(this.env).KEY_LEASE_SECONDS * 1000;
  }

  /**
   * Check stale slot entries with their objects: a finished one leaves (letting the next in), one that gave its slot
   * back while it waits (its release lost) is parked, a live one renews. One that does not answer is kept.
   */
  private async dropFinishedSlots(ids: string[], capacity: number, ttl: number): Promise<number> {
    const states = await Promise.all(
      ids.map((id) =>
        executionStub(this.env, id)
          .slotState()
          .catch(() => null),
      ),
    );
    ids.forEach((id, i) => {
      const leaseUntil = Date.now() + ttl;
      const state = states[i];
      if (state === "none") this.wake(this.slots.release(id, capacity, leaseUntil));
      else if (state !== null && typeof state === "object")
        this.wake(this.slots.park({ executionId: id, capacity, leaseUntil, ...state.parked }));
      else this.slots.renew(id, leaseUntil);
    });
    return states.filter((st) => st === "none").length;
  }

  private async dropFinished(key: string, capacity: number, stale: string[], ttl: number): Promise<void> {
    // An object that does not answer is kept: a holder is never dropped on a transient failure, only on its own word.
    const running = await Promise.all(
      stale.map((id) =>
        executionStub(this.env, id)
          .holdsKeyLease()
          .catch(() => true),
      ),
    );
    stale.forEach((id, i) =>
      running[i] ? this.leases.renewKey(key, id, Date.now() + ttl) : this.leases.releaseKey(key, id, capacity),
    );
  }

  /**
   * Everything a start needs from the tenant, in one call: the request token first (a start refused by the rate
   * limit queues nowhere), then the concurrency key, then a running slot. `granted`: the execution may run now.
   * Asked in the order starts arrive, so the queues stay in arrival order; asking again renews the entries.
   */
  async admit(a: {
    token?: TokenAsk | undefined;
    queue?: QueueAsk | undefined;
  }): Promise<{ token: TokenDecision | null; granted: boolean }> {
    const token = a.token ? this.takeToken(a.token.keyId, a.token.perMinute, a.token.burst) : null;
    if ((token && !token.allowed) || !a.queue) return { token, granted: false };
    return { token, granted: await this.enqueue(a.queue) };
  }

  /**
   * A batch start's one call: the request's token, then each new execution's places in the queues, in item order
   * (null: an item that queues nowhere). Nothing is queued when the token is refused.
   */
  async admitMany(a: {
    token: TokenAsk;
    queues: (QueueAsk | null)[];
  }): Promise<{ token: TokenDecision; granted: boolean[] }> {
    const token = this.takeToken(a.token.keyId, a.token.perMinute, a.token.burst);
    const granted: boolean[] = [];
    for (const q of a.queues) granted.push(token.allowed && q !== null && (await this.enqueue(q)));
    return { token, granted };
  }

  /** Take the concurrency key (if any), then a running slot; true when the execution may run now. */
  private async enqueue(q: QueueAsk): Promise<boolean> {
    if (q.key !== null && !(await this.acquireKey(q.key, q.executionId)).granted) return false;
    return this.takeSlot(q);
  }

  /**
   * A running slot, in fair order (src/engine/fair-share.ts): held at once while one is free and nobody waits,
   * else a place in its lane. Stale holders are checked as for keys (see acquireKey).
   */
  private async takeSlot(q: QueueAsk): Promise<boolean> {
    const ttl = this.leaseMs();
    const ask = () => {
      const asked = this.slots.acquire({
        executionId: q.executionId,
        lane: q.lane,
        group: q.group,
        key: q.key ?? "",
        capacity: q.slots,
        leaseUntil: Date.now() + ttl,
      });
      this.wake(asked.admitted);
      return asked.granted;
    };
    const granted = ask();
    const stale = this.slots.staleHolders(Date.now(), STALE_CHECKS_PER_ASK).filter((id) => id !== q.executionId);
    if (stale.length === 0) return granted;
    const checked = this.dropFinishedSlots(stale, q.slots, ttl);
    if (granted) {
      this.ctx.waitUntil(checked);
      return true;
    }
    await checked;
    return ask();
  }

  /** A running execution waits for something and gives its slot back meanwhile; it keeps its concurrency key. */
  park(q: Pick<QueueAsk, "executionId" | "slots" | "lane" | "group">): void {
    const leaseUntil = Date.now() + this.leaseMs();
    this.wake(
      this.slots.park({ executionId: q.executionId, lane: q.lane, group: q.group, capacity: q.slots, leaseUntil }),
    );
  }

  /** An execution ended: leave its running slot and concurrency key; returns the executions this let in. */
  leave(q: Pick<QueueAsk, "executionId" | "key" | "slots">): string[] {
    const ttl = this.leaseMs();
    const woken = new Set(this.slots.release(q.executionId, q.slots, Date.now() + ttl));
    if (q.key !== null) for (const id of this.leases.releaseKey(q.key, q.executionId, 1)) woken.add(id);
    woken.delete(q.executionId);
    return [...woken];
  }

  /** Tell executions let in that they may run; a wake-up lost here is caught by their poll alarm. */
  private wake(ids: string[]): void {
    for (const id of ids)
      this.ctx.waitUntil(
        executionStub(this.env, id)
          .poke()
          .catch((err: unknown) => logLostWake(id, err)),
      );
  }

  /**
   * An execution ended: leave its running slot and concurrency key, wake the executions that this let in, then
   * write its final projection to its history shard. One call instead of two at the end of every run, and the
   * projections of executions ending together go to D1 as one batch. Answers once D1 has the projection, or with
   * D1's refusal (the release stands either way); the execution retries the whole call (leaving twice is a no-op)
   * until the projection lands.
   */
  async finish(f: {
    queue: Pick<QueueAsk, "executionId" | "key" | "slots">;
    shard: number;
    projection: Projection;
  }): Promise<{ projected: true } | { projected: false; error: string }> {
    this.wake(this.leave(f.queue));
    let writer = this.history.get(f.shard);
    if (!writer) {
      const db = openDb(historyDatabase(this.env, f.shard)).db;
      writer = new GroupCommit((group) => projectExecutions(db, group), PROJECTIONS_PER_BATCH);
      this.history.set(f.shard, writer);
    }
    return writer.submit(f.projection).then(
      () => ({ projected: true }) as const,
      (err: unknown) => ({ projected: false, error: String(err) }) as const,
    );
  }

  /**
   * What waits for what: the running slots per lane and per workflow, and the concurrency keys (one holder each,
   * the rest queued), the longest queues first, at most `max` rows each.
   */
  queues(max: number): {
    capacity: number;
    lanes: ReturnType<SlotStore["lanes"]>;
    workflows: ReturnType<SlotStore["groups"]>;
    keys: { key: string; running: number; queued: number }[];
  } {
    return {
      capacity: config(this.env).MAX_RUNNING_EXECUTIONS_PER_TENANT,
      lanes: this.slots.lanes(),
      workflows: this.slots.groups(max),
      keys: this.leases
        .keys(max)
        .map((k) => ({ key: k.key, running: Math.min(1, k.entries), queued: Math.max(0, k.entries - 1) })),
    };
  }

  /** How many executions hold or wait for `key` (the running-slot queue for RUNNING_SLOTS). */
  queued(key: string): number {
    return key === RUNNING_SLOTS ? this.slots.size() : this.leases.queued(key);
  }

  releaseKey(key: string, executionId: string, capacity = 1): string[] {
    return this.leases.releaseKey(key, executionId, capacity);
  }

  /**
   * Reserve an LLM call's worst-case cost against the monthly budget, in one step: concurrent calls that together
   * exceed it cannot all pass a check made before any of them was recorded. The month opens from D1's spend.
   */
  async reserveLlm(
    tenantId: string,
    historyShard: number,
    id: string,
    month: string,
    amount: number,
    budget: number,
    ttlMs: number,
  ): Promise<{ ok: boolean; spent: number; reserved: number }> {
    if (!this.ledger.hasMonth(month)) {
      const base = await monthSpend(openDb(historyDatabase(this.env, historyShard)).db, tenantId, month);
      this.ledger.openMonth(month, base);
    }
    const now = Date.now();
    const { spent, reserved } = this.ledger.position(month, now);
    if (spent + reserved + amount > budget) return { ok: false, spent, reserved };
    this.ledger.reserve(id, month, amount, now + ttlMs);
    return { ok: true, spent, reserved: reserved + amount };
  }

  /** The call ended: its reservation becomes what it really cost. */
  settleLlm(id: string, cost: number): void {
    this.ledger.settle(id, cost);
  }

  /** Take one request token from an API key's bucket. */
  takeToken(keyId: string, perMinute: number, burst: number): TokenDecision {
    const { bucket, ...decision } = take(this.buckets.get(keyId), perMinute, burst, Date.now());
    this.buckets.set(keyId, bucket);
    return decision;
  }

  active(kind: LeaseKind): number {
    return this.leases.count(kind, Date.now());
  }
}

function logLostWake(executionId: string, err: unknown): void {
  const msg = "wake-up after a release not delivered; the execution's poll alarm takes over";
  console.error(JSON.stringify({ level: "warn", msg, execution_id: executionId, error: String(err) }));
}

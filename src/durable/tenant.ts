import { DurableObject } from "cloudflare:workers";
import { LeaseStore } from "../db/lease-store";
import { take, type Bucket, type RateDecision } from "../engine/rate";

export type LeaseKind = "subscriber";

/** One per tenant: counters that must agree across isolates (subscriber slots, concurrency keys, rate limits). */
export class TenantObject extends DurableObject<Env> {
  private readonly leases: LeaseStore;
  // Buckets live in memory: an eviction refills them, which errs on the side of letting requests through.
  private readonly buckets = new Map<string, Bucket>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.leases = new LeaseStore(ctx.storage.sql);
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

  /** Concurrency keys: one execution at a time per key, the rest wait in arrival order. */
  acquireKey(key: string, executionId: string, capacity = 1): { granted: boolean; position: number } {
    return this.leases.acquireKey(key, executionId, capacity);
  }

  releaseKey(key: string, executionId: string, capacity = 1): string[] {
    return this.leases.releaseKey(key, executionId, capacity);
  }

  /** Take one request token from an API key's bucket. */
  takeToken(keyId: string, perMinute: number, burst: number): Omit<RateDecision, "bucket"> {
    const { bucket, ...decision } = take(this.buckets.get(keyId), perMinute, burst, Date.now());
    this.buckets.set(keyId, bucket);
    return decision;
  }

  active(kind: LeaseKind): number {
    return this.leases.count(kind, Date.now());
  }
}

// Token bucket math for per-key rate limits; the TenantObject keeps the buckets, this decides.

export interface Bucket {
  tokens: number;
  updated_at: number;
}

export interface RateDecision {
  allowed: boolean;
  bucket: Bucket;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  reset_seconds: number;
  /** Seconds until one token is available (0 when allowed). */
  retry_after_seconds: number;
}

/** Refill at `perMinute` tokens a minute up to `burst`, then take one token if there is one. */
export function take(bucket: Bucket | undefined, perMinute: number, burst: number, now: number): RateDecision {
  const rate = perMinute / 60_000;
  const start = bucket ?? { tokens: burst, updated_at: now };
  const tokens = Math.min(burst, start.tokens + (now - start.updated_at) * rate);
  const allowed = tokens >= 1;
  const left = allowed ? tokens - 1 : tokens;
  return {
    allowed,
    bucket: { tokens: left, updated_at: now },
    remaining: Math.floor(left),
    reset_seconds: Math.ceil((burst - left) / rate / 1000),
    retry_after_seconds: allowed ? 0 : Math.max(1, Math.ceil((1 - left) / rate / 1000)),
  };
}

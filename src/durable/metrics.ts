import { DurableObject } from "cloudflare:workers";

/** Upper bounds (ms) of the request latency histogram buckets. */
export const LATENCY_BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
export const METRIC_SHARDS = 8;

export interface RequestSample {
  route: string;
  method: string;
  status: number;
  ms: number;
}

interface Series {
  count: number;
  sum_ms: number;
  buckets: number[];
}

/**
 * One shard of the request metrics. Requests are spread over METRIC_SHARDS objects so no single object takes every
 * request's write; /metrics adds the shards up. Counts persist in storage, so they survive eviction.
 */
export class MetricsObject extends DurableObject<Env> {
  async record(samples: RequestSample[]): Promise<void> {
    const updates = new Map<string, Series>();
    for (const s of samples) {
      const key = JSON.stringify([s.method, s.route, s.status]);
      const series = updates.get(key) ??
        (await this.ctx.storage.get<Series>(key)) ?? { count: 0, sum_ms: 0, buckets: LATENCY_BUCKETS.map(() => 0) };
      series.count += 1;
      series.sum_ms += s.ms;
      LATENCY_BUCKETS.forEach((b, i) => {
        if (s.ms <= b) series.buckets[i] = (series.buckets[i] ?? 0) + 1;
      });
      updates.set(key, series);
    }
    await this.ctx.storage.put(Object.fromEntries(updates));
  }

  async snapshot(): Promise<Record<string, Series>> {
    return Object.fromEntries(await this.ctx.storage.list<Series>());
  }
}

// Which MetricsObject shard a request sample goes to; used by the request middleware and read back by /metrics.
import { METRIC_SHARDS, type RequestSample } from "../durable/metrics";

export function metricsShard(env: Env, index: number) {
  return env.METRICS.get(env.METRICS.idFromName(`shard-${index}`));
}

/** Record one request in a random shard (called from waitUntil, after the response is sent). */
export async function recordRequest(env: Env, sample: RequestSample): Promise<void> {
  await metricsShard(env, Math.floor(Math.random() * METRIC_SHARDS)).record([sample]);
}

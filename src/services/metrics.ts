// Which MetricsObject shard a request sample goes to; used by the request middleware and read back by /metrics.
import { METRIC_SHARDS, type RequestSample } from "../durable/metrics";

// An isolate's samples wait this long and go to one shard in one call: one RPC per batch, not one per request.
const BATCH_WINDOW_MS = 50;
const MAX_BATCH = 200;

/** The batch samples join until its window closes; the request that opened it sends it. */
let open: RequestSample[] | null = null;

export function metricsShard(env: Env, index: number) {
  return env.METRICS.get(env.METRICS.idFromName(`shard-${index}`));
}

/**
 * Record one request (called from waitUntil, after the response is sent). A sample joins the open batch; the request
 * that opened it waits out the window in its own waitUntil and sends the batch, so its failure reaches that caller's
 * log like any other, and no request's I/O is used by another.
 */
export async function recordRequest(env: Env, sample: RequestSample): Promise<void> {
  if (open && open.length < MAX_BATCH) {
    open.push(sample);
    return;
  }
  const batch = [sample];
  open = batch;
  await scheduler.wait(BATCH_WINDOW_MS);
  if (open === batch) open = null;
  await metricsShard(env, Math.floor(Math.random() * METRIC_SHARDS))
    .record(batch)
    .catch((err: unknown) => {
      throw new Error(`a batch of ${batch.length} request samples was not recorded: ${String(err)}`);
    });
}

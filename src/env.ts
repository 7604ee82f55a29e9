// The only place configuration defaults live: [vars] are parsed with zod once per env object.
import { z } from "zod";

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const configSchema = z.object({
  MAX_BODY_BYTES: int(1024 * 1024, 1024, 100 * 1024 * 1024),
  /** A batch start's body (up to 1,000 items, each with its input). */
  MAX_BATCH_BODY_BYTES: int(8 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  DEFAULT_EXECUTION_TIMEOUT_SECONDS: int(7200, 1, 30 * 86_400),
  PROJECTION_FLUSH_MS: int(250, 0, 60_000),
  MAX_SUBSCRIBERS_PER_EXECUTION: int(100, 1, 32_000),
  MAX_SUBSCRIBERS_PER_TENANT: int(1000, 1, 1_000_000),
  STREAM_TICKET_TTL_SECONDS: int(60, 1, 3600),
  SSE_HEARTBEAT_MS: int(15_000, 50, 300_000),
  /** Subscriber slots expire unless renewed, so a slot leaked by a crash comes back. */
  SUBSCRIBER_LEASE_MS: int(300_000, 1000, 3_600_000),
  MAX_CLIENT_FRAME_BYTES: int(4096, 64, 1024 * 1024),
  RETENTION_DAYS: int(30, 1, 3650),
  /** The watchdog pokes an unfinished execution whose DO has not projected to D1 for this long. */
  WATCHDOG_STALL_SECONDS: int(600, 10, 86_400),
  /** ...or whose announced next wake-up (its alarm) is this far in the past: a lost alarm, caught within two ticks. */
  WATCHDOG_GRACE_SECONDS: int(60, 5, 86_400),
  /**
   * /health answers 503 cron_stalled when the last cron tick (or, before the first, the install) is older than this:
   * three periods of the `* * * * *` trigger.
   */
  CRON_STALL_SECONDS: int(180, 60, 86_400),
  /**
   * A concurrency key's (or running slot's) holder is checked with its own object once its lease is this old and
   * someone waits: a release lost to a crash frees the key within this bound plus one queue poll (5 s).
   */
  KEY_LEASE_SECONDS: int(60, 1, 86_400),
  /** A node output whose JSON is larger than this goes to R2 (rows hold at most 2 MB); the node keeps a reference. */
  MAX_INLINE_OUTPUT_BYTES: int(128 * 1024, 1024, 1_500_000),
  /** Bytes of output one execution may keep in R2; past it the node fails with output_budget_exceeded. */
  OUTPUT_BUDGET_BYTES: int(64 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024),
  /** An LLM provider's circuit opens after this many consecutive failures... */
  BREAKER_FAILURES: int(5, 1, 1000),
  /** ...and lets one probe through after this long. */
  BREAKER_COOLDOWN_MS: int(30_000, 100, 3_600_000),
  /**
   * Requests per minute per API key (a key's rate_limit_per_minute overrides it), with bursts up to RATE_LIMIT_BURST.
   */
  RATE_LIMIT_PER_MINUTE: int(600, 1, 1_000_000),
  RATE_LIMIT_BURST: int(120, 1, 1_000_000),
  /** Running executions per tenant; beyond it executions wait as queued and start in arrival order. */
  MAX_RUNNING_EXECUTIONS_PER_TENANT: int(100, 1, 100_000),
  /**
   * Map item attempts one alarm invocation starts before handing over to the next: each invocation has its own
   * subrequest limit (1,000 on Free, 10,000 by default on Paid), and an item may make a few subrequests.
   */
  MAP_ITEMS_PER_INVOCATION: int(200, 1, 10_000),
  /**
   * The cron checks every configured LLM tier this often (0 = never): /health shows the last result, and a change
   * raises model.down / model.up to MODEL_ALERT_WEBHOOK_URL when that is set.
   */
  MODEL_CHECK_MINUTES: int(5, 0, 1440),
  /** The window PROVIDER_LIMITS count over: providers publish per-minute limits. */
  PROVIDER_LIMIT_WINDOW_SECONDS: int(60, 1, 3600),
  /** Due monitor checks one cron tick claims; the rest wait for the next tick (docs/capacity.md has the figure). */
  MONITOR_CHECKS_PER_TICK: int(5000, 1, 100_000),
  /** Checks per checker object in a tick: each object has its own subrequest (1,000 on Free) and CPU budget. */
  MONITOR_CHECKS_PER_OBJECT: int(100, 1, 1000),
  /** The token budget a conversation gives each turn (message, summary and history window) unless it sets its own. */
  CONVERSATION_HISTORY_TOKENS: int(8000, 256, 2_000_000),
  /**
   * The least level of the structured log lines written (src/lib/log.ts): "info" writes a line per request and per
   * execution state change; "warn" keeps warnings and errors only. Every line is JSON either way.
   */
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});
export type Config = z.output<typeof configSchema>;

const cache = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    parsed = configSchema.parse(env);
    cache.set(env, parsed);
  }
  return parsed;
}

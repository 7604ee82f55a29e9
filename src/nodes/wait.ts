import { z } from "zod";
import { FatalError, type NodeExecutor } from "./types";

const templated = z.string().regex(/^\{\{[\s\S]+\}\}$/, "must be a number or a {{ template }}");
const MAX_SLEEP_MS = 365 * 86_400_000;

const sleepConfig = z
  .object({
    duration_ms: z.union([z.number().int().min(0).max(MAX_SLEEP_MS), templated]).optional(),
    until: z.string().min(1).max(512).optional(),
  })
  .strict()
  .refine((c) => (c.duration_ms === undefined) !== (c.until === undefined), "set exactly one of duration_ms and until");

/** A durable sleep: the ExecutionObject's alarm wakes the node, so it survives eviction and restarts. */
export const sleep: NodeExecutor<typeof sleepConfig> = {
  config: sleepConfig,
  defaultTimeoutMs: 10_000,
  async run({ config, now }) {
    if (config.until !== undefined) {
      const at = Date.parse(config.until);
      if (Number.isNaN(at)) throw new FatalError("invalid_config", `until "${config.until}" is not an ISO 8601 time`);
      return { wait: { until: at, event: null } };
    }
    const ms = Number(config.duration_ms);
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SLEEP_MS)
      throw new FatalError("invalid_config", `duration_ms ${String(config.duration_ms)} is out of range`);
    return { wait: { until: now + ms, event: null } };
  },
};

const waitConfig = z
  .object({
    event: z.string().min(1).max(128),
    timeout_ms: z.number().int().min(1).max(MAX_SLEEP_MS).optional(),
  })
  .strict();

/** Waits for `POST /v1/executions/:id/events {name}`; an event sent earlier is buffered and consumed here. */
export const waitForEvent: NodeExecutor<typeof waitConfig> = {
  config: waitConfig,
  defaultTimeoutMs: 10_000,
  async run({ config, now }) {
    return { wait: { until: config.timeout_ms === undefined ? null : now + config.timeout_ms, event: config.event } };
  },
};

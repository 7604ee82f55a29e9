import { Hono } from "hono";
import { z } from "zod";
import { tenantStub } from "../durable/client";
import { readQuery } from "../middleware/body";
import { providerWindows } from "../services/provider-windows";
import type { AppEnv } from "../middleware/context";

export const queuesQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict();

/**
 * /v1/queues: the tenant's running slots, what runs and what waits in each lane and for each workflow, and its
 * concurrency keys, from the TenantObject that admits them (so it is what admission sees, not a projection); and
 * what each metered provider model took of its window, shared by every tenant.
 */
export const queuesRoute = new Hono<AppEnv>().get("/", async (c) => {
  const { limit } = readQuery(c, queuesQuery);
  const [q, providers] = await Promise.all([
    tenantStub(c.env, c.get("tenantId")).queues(limit),
    providerWindows(c.env),
  ]);
  const sum = (k: "running" | "queued" | "parked") => q.lanes.reduce((s, l) => s + l[k], 0);
  return c.json({
    slots: { capacity: q.capacity, running: sum("running"), queued: sum("queued"), parked: sum("parked") },
    lanes: q.lanes,
    workflows: q.workflows,
    keys: q.keys,
    providers: providers.windows,
    provider_limits_error: providers.error,
  });
});

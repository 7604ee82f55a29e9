import { Hono } from "hono";
import { z } from "zod";
import { tenantStub } from "../durable/client";
import { readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";

export const queuesQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }).strict();

/**
 * /v1/queues: the tenant's running slots, what runs and what waits in each lane and for each workflow, and its
 * concurrency keys, from the TenantObject that admits them (so it is what admission sees, not a projection).
 */
export const queuesRoute = new Hono<AppEnv>().get("/", async (c) => {
  const { limit } = readQuery(c, queuesQuery);
  const q = await tenantStub(c.env, c.get("tenantId")).queues(limit);
  const sum = (k: "running" | "queued") => q.lanes.reduce((s, l) => s + l[k], 0);
  return c.json({
    slots: { capacity: q.capacity, running: sum("running"), queued: sum("queued") },
    lanes: q.lanes,
    workflows: q.workflows,
    keys: q.keys,
  });
});

import { Hono } from "hono";
import { z } from "zod";
import * as repo from "../db/repo";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";

export const corsBody = z
  .object({
    origins: z
      .array(z.string().regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i, "must be an origin like https://app.example.com"))
      .max(50),
  })
  .strict();

/** /v1/cors: the browser origins allowed to call the API with this tenant's keys. */
export const corsRoute = new Hono<AppEnv>()
  .get("/", async (c) => c.json({ origins: await repo.listOrigins(c.get("db").db, c.get("tenantId")) }))
  .put("/", async (c) => {
    const { value } = await readJson(c, corsBody);
    const origins = [...new Set(value.origins.map((o) => o.toLowerCase()))];
    await repo.setOrigins(c.get("db").db, c.get("tenantId"), origins);
    return c.json({ origins });
  });

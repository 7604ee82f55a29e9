import { Hono } from "hono";
import { z } from "zod";
import * as repo from "../db/repo";
import { seal, SecretsUnconfigured } from "../lib/secret-box";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { iso } from "./shared";

const NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
export const secretBody = z
  .object({
    value: z
      .string()
      .min(1)
      .max(64 * 1024),
  })
  .strict();

function checkName(name: string): string {
  if (!NAME.test(name))
    throw new AppError(400, "validation_failed", "Secret names are upper case: ^[A-Z][A-Z0-9_]{0,63}$.", {
      errors: [{ path: "name", message: "must match ^[A-Z][A-Z0-9_]{0,63}$" }],
    });
  return name;
}

/** /v1/secrets: write-only values (encrypted at rest), referenced in configs as {{ secrets.NAME }}; never returned. */
export const secretsRoute = new Hono<AppEnv>()
  .put("/:name", async (c) => {
    const name = checkName(c.req.param("name"));
    const {
      value: { value },
    } = await readJson(c, secretBody);
    let box: { ciphertext: string; iv: string };
    try {
      box = await seal(c.env, c.get("tenantId"), name, value);
    } catch (err) {
      if (err instanceof SecretsUnconfigured) throw new AppError(503, "secrets_unconfigured", err.message);
      throw err;
    }
    const now = Date.now();
    await repo.putSecret(c.get("db").db, {
      tenant_id: c.get("tenantId"),
      name,
      ...box,
      created_at: now,
      updated_at: now,
    });
    return c.json({ name, updated_at: iso(now) });
  })
  .get("/", async (c) => {
    const rows = await repo.listSecretNames(c.get("db").db, c.get("tenantId"));
    return c.json({
      data: rows.map((r) => ({ name: r.name, created_at: iso(r.created_at), updated_at: iso(r.updated_at) })),
    });
  })
  .delete("/:name", async (c) => {
    if (!(await repo.deleteSecret(c.get("db").db, c.get("tenantId"), checkName(c.req.param("name"))))) {
      throw new AppError(404, "secret_not_found", `No secret named ${c.req.param("name")}.`);
    }
    return c.body(null, 204);
  });

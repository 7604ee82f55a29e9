import { Hono } from "hono";
import { z } from "zod";
import * as history from "../db/history-repo";
import * as repo from "../db/repo";
import { breakerStub } from "../durable/client";
import { readJson, readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { tierSetting, tierVar, TIERS } from "../nodes/llm/config";
import { resolveTarget } from "../nodes/llm/resolve";
import { probeTiers } from "../services/model-probe";

const vars = (env: Env) => env as unknown as Record<string, unknown>;

/** /v1/models: the tiers, how each is configured, and its provider's breaker; /test calls each one. */
export const models = new Hono<AppEnv>()
  .get("/", async (c) => {
    const data = await Promise.all(
      TIERS.map(async (tier) => {
        const r = resolveTarget(vars(c.env), { tier });
        const setting = tierSetting(vars(c.env), tier);
        const breaker = r.ok ? (await breakerStub(c.env, r.target.provider).status()).state : null;
        return {
          tier,
          variable: tierVar(tier),
          provider: r.ok ? r.target.provider : (setting?.split(":")[0] ?? null),
          model: r.ok ? r.target.model : setting?.split(":").slice(1).join(":") || null,
          configured: r.ok,
          problem: r.ok ? null : r.message,
          breaker,
        };
      }),
    );
    return c.json({ data });
  })
  .post("/test", async (c) => c.json({ data: await probeTiers(c.env) }));

export const budgetBody = z.object({ monthly_usd: z.number().min(0).max(1e9).nullable() }).strict();
const monthParam = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "expected YYYY-MM")
  .optional();
export const usageQuery = z.object({ month: monthParam });
const thisMonth = () => new Date().toISOString().slice(0, 7);

/** /v1/budget: the tenant's monthly LLM budget (null = unlimited, 0 = no LLM calls) and month-to-date spend. */
export const budget = new Hono<AppEnv>()
  .get("/", async (c) => {
    const db = c.get("db").db;
    const [monthly, spent] = await Promise.all([
      repo.getBudget(db, c.get("tenantId")),
      history.monthSpend(c.get("history").db, c.get("tenantId"), thisMonth()),
    ]);
    return c.json({ monthly_usd: monthly, month: thisMonth(), spent_usd: spent });
  })
  .put("/", async (c) => {
    const { value } = await readJson(c, budgetBody);
    await repo.setBudget(c.get("db").db, c.get("tenantId"), value.monthly_usd, Date.now());
    return c.json({ monthly_usd: value.monthly_usd });
  });

/** /v1/usage?month=YYYY-MM: LLM calls, tokens and cost per workflow and model, in one query. */
export const usage = new Hono<AppEnv>().get("/", async (c) => {
  const month = readQuery(c, usageQuery).month ?? thisMonth();
  const rows = await history.usageReport(c.get("history").db, c.get("tenantId"), month);
  const data = rows.map((r) => ({
    ...r,
    calls: Number(r.calls),
    input_tokens: Number(r.input_tokens),
    output_tokens: Number(r.output_tokens),
    cost_usd: Number(r.cost_usd),
  }));
  return c.json({ month, total_usd: data.reduce((s, r) => s + r.cost_usd, 0), data });
});

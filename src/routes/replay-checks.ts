import { Hono } from "hono";
import { z } from "zod";
import { MAX_DEFINITION_BYTES, validateDefinition, type Definition } from "../engine/dag";
import { getWorkflow } from "../db/repo";
import { snapshotOf } from "../durable/client";
import { isId } from "../lib/ids";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { kindSpecs } from "../nodes";
import { FAILING, replayCheck } from "../services/replay-check";

export const replayCheckBody = z
  .object({
    /** The definition to check, as `workflows apply` would publish it. */
    definition: z.record(z.string(), z.unknown()),
    /** Recorded executions of the workflow (any version) to evaluate it against. */
    executions: z.array(z.string().min(1).max(64)).min(1).max(50),
  })
  .strict();

/**
 * /v1/replay-checks: golden replay. Evaluates a definition against recorded executions without running anything and
 * answers per node whether its resolved input (its `when` and rendered config) would change.
 */
export const replayChecks = new Hono<AppEnv>().post("/", async (c) => {
  const { value } = await readJson(c, replayCheckBody, MAX_DEFINITION_BYTES + 64 * 1024);
  const checked = validateDefinition(value.definition, kindSpecs);
  if (!checked.ok)
    throw new AppError(400, "invalid_definition", "The workflow definition is invalid.", {
      errors: checked.errors.map((e) => ({ ...e, path: `definition.${e.path}` })),
    });
  const tenantId = c.get("tenantId");
  const db = c.get("db").db;
  const executions = [];
  for (const [i, id] of value.executions.entries()) {
    const view = isId("ex", id) ? await snapshotOf(c.env, id, tenantId) : null;
    if (!view)
      throw new AppError(404, "execution_not_found", `Execution ${id} does not exist.`, {
        errors: [{ path: `executions[${i}]`, message: "no such execution in this tenant" }],
      });
    const recorded = await getWorkflow(db, tenantId, view.workflow_id, view.version);
    if (!recorded) throw new AppError(404, "workflow_not_found", `Workflow ${view.workflow_id} does not exist.`);
    const nodes = await replayCheck(recorded.definition as Definition, checked.definition, {
      id: view.id,
      workflow_id: view.workflow_id,
      version: view.version,
      input: view.input,
      nodes: view.nodes,
    });
    executions.push({
      execution_id: view.id,
      workflow_id: view.workflow_id,
      version: view.version,
      failing: nodes.filter((n) => FAILING.has(n.verdict)).length,
      nodes,
    });
  }
  return c.json({ ok: executions.every((e) => e.failing === 0), executions });
});

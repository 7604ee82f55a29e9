import { Hono, type Context } from "hono";
import { z } from "zod";
import * as cron from "../db/cron-repo";
import * as repo from "../db/repo";
import type { Definition } from "../engine/dag";
import { checkCron, nextRunAfter } from "../engine/cron";
import { validateInput } from "../engine/input";
import { isId, newId } from "../lib/ids";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { idempotentCreate } from "../services/idempotent-create";
import { created, idempotencyKeyOf, iso, mountParam } from "./shared";

const fields = {
  cron: z.string().min(1).max(200),
  timezone: z.string().min(1).max(64),
  input: z.unknown(),
  enabled: z.boolean(),
  overlap: z.enum(["skip", "allow"]),
};
export const scheduleCreate = z
  .object({
    ...fields,
    timezone: fields.timezone.default("UTC"),
    input: fields.input.optional(),
    enabled: fields.enabled.default(true),
    overlap: fields.overlap.default("skip"),
  })
  .strict();
export const schedulePatch = z.object(fields).partial().strict();

function view(s: cron.ScheduleRow) {
  return {
    id: s.id,
    workflow_id: s.workflow_id,
    cron: s.cron,
    timezone: s.timezone,
    input: s.input ?? null,
    enabled: s.enabled,
    disabled_reason: s.disabled_reason,
    overlap: s.overlap,
    next_run_at: iso(s.next_run_at),
    last_run_at: iso(s.last_run_at),
    last_execution_id: s.last_execution_id,
    created_at: iso(s.created_at),
    updated_at: iso(s.updated_at),
  };
}

function notFound(id: string): AppError {
  return new AppError(404, "schedule_not_found", `Schedule ${id} does not exist.`);
}

/** Check cron, time zone and input against the workflow; returns the first due time after `now`. */
async function validate(
  c: Context<AppEnv>,
  workflowId: string,
  s: { cron: string; timezone: string; input?: unknown },
  now: number,
) {
  const problem = checkCron(s.cron, s.timezone);
  if (problem)
    throw new AppError(400, "validation_failed", "The schedule is invalid.", {
      errors: [{ path: problem.startsWith("unknown time zone") ? "timezone" : "cron", message: problem }],
    });
  const wf = isId("wf", workflowId)
    ? await repo.getWorkflow(c.get("db").db, c.get("tenantId"), workflowId, null)
    : null;
  if (!wf) throw new AppError(404, "workflow_not_found", `Workflow ${workflowId} does not exist.`);
  const schema = (wf.definition as Definition).input_schema;
  if (schema) {
    const errors = validateInput(schema, s.input ?? null);
    if (errors.length)
      throw new AppError(422, "invalid_input", "The schedule's input does not match the workflow's input_schema.", {
        errors,
      });
  }
  return nextRunAfter(s.cron, s.timezone, now);
}

/** /v1/workflows/:id/schedules: create and list a workflow's schedules (mounted under the workflow). */
export const workflowSchedules = new Hono<AppEnv>()
  .post("/", async (c) => {
    const workflowId = mountParam(c, "id");
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, scheduleCreate);
    const now = Date.now();
    const next = await validate(c, workflowId, value, now);
    const db = c.get("db").db;
    const tenantId = c.get("tenantId");
    const result = await idempotentCreate(
      db,
      { tenantId, scope: "schedule", key, request: { workflow_id: workflowId, ...value }, id: newId("sch") },
      async (id) => {
        const row: cron.ScheduleRow = {
          id,
          tenant_id: tenantId,
          workflow_id: workflowId,
          cron: value.cron,
          timezone: value.timezone,
          input: value.input ?? null,
          enabled: value.enabled,
          disabled_reason: null,
          overlap: value.overlap,
          next_run_at: next,
          last_run_at: null,
          last_execution_id: null,
          created_at: now,
          updated_at: now,
        };
        return (await cron.insertSchedule(db, row)) ? view(row) : null;
      },
      async (id) => {
        const row = await cron.getSchedule(db, tenantId, id);
        return row && view(row);
      },
    );
    return created(c, result, (id) => `/v1/schedules/${id}`);
  })
  .get("/", async (c) => {
    const id = mountParam(c, "id");
    const rows = isId("wf", id) ? await cron.listSchedules(c.get("db").db, c.get("tenantId"), id) : null;
    if (!rows) throw new AppError(404, "workflow_not_found", `Workflow ${id} does not exist.`);
    return c.json({ data: rows.map(view) });
  });

/** /v1/schedules: every schedule; /v1/schedules/:id: get, update, delete one, and its recent runs. */
export const schedules = new Hono<AppEnv>()
  .get("/", async (c) =>
    c.json({ data: (await cron.listTenantSchedules(c.get("db").db, c.get("tenantId"))).map(view) }),
  )
  .get("/:id", async (c) => {
    const row = await cron.getSchedule(c.get("db").db, c.get("tenantId"), c.req.param("id"));
    if (!row) throw notFound(c.req.param("id"));
    return c.json(view(row));
  })
  .patch("/:id", async (c) => {
    const id = c.req.param("id");
    const { value } = await readJson(c, schedulePatch);
    const db = c.get("db").db;
    const current = await cron.getSchedule(db, c.get("tenantId"), id);
    if (!current) throw notFound(id);
    const merged = { ...current, ...value };
    const now = Date.now();
    const next = await validate(
      c,
      current.workflow_id,
      { cron: merged.cron, timezone: merged.timezone, input: merged.input },
      now,
    );
    const updated = await cron.updateSchedule(db, c.get("tenantId"), id, {
      ...value,
      input: merged.input ?? null,
      next_run_at: next,
      updated_at: now,
      ...(value.enabled !== undefined ? { disabled_reason: null } : {}),
    });
    if (!updated) throw notFound(id);
    return c.json(view(updated));
  })
  .delete("/:id", async (c) => {
    if (!(await cron.deleteSchedule(c.get("db").db, c.get("tenantId"), c.req.param("id"))))
      throw notFound(c.req.param("id"));
    return c.body(null, 204);
  })
  .get("/:id/runs", async (c) => {
    const db = c.get("db").db;
    const row = await cron.getSchedule(db, c.get("tenantId"), c.req.param("id"));
    if (!row) throw notFound(c.req.param("id"));
    const runs = await cron.listScheduleRuns(db, row.id, 100);
    return c.json({
      data: runs.map((r) => ({
        scheduled_at: iso(r.scheduled_at),
        status: r.status,
        execution_id: r.execution_id,
        reason: r.reason,
      })),
    });
  });

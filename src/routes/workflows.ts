import { Hono, type Context } from "hono";
import { z } from "zod";
import * as repo from "../db/repo";
import { MAX_DEFINITION_BYTES, validateDefinition, type Definition, type FieldError } from "../engine/dag";
import { allowedHosts, checkUrl } from "../lib/ssrf";
import { encodeCursor } from "../lib/cursor";
import { isId, newId } from "../lib/ids";
import { readJson, readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { kindSpecs } from "../nodes";
import { modelErrors } from "../nodes/llm/definition-checks";
import { idempotentCreate } from "../services/idempotent-create";
import { MAX_MIGRATED, migrateExecutions } from "../services/migrations";
import { publishOnce } from "../services/publish";
import { refusal } from "./refusals";
import { created, cursorParam, idempotencyKeyOf, iso, limitParam } from "./shared";

const anyObject = z.record(z.string(), z.unknown());
export const listWorkflowsQuery = z.object({ cursor: cursorParam, limit: limitParam });
export const getWorkflowQuery = z.object({ version: z.coerce.number().int().min(1).optional() });
/** `if_changed=true`: publish only when the definition differs from the latest version (idempotent deploys). */
export const migrationBody = z
  .object({
    from: z.number().int().min(1),
    to: z.number().int().min(1),
    node_map: z.record(z.string().min(1).max(128), z.string().min(1).max(128)).default({}),
    filter: z
      .object({ execution_ids: z.array(z.string().min(1).max(64)).min(1).max(MAX_MIGRATED).optional() })
      .strict()
      .optional(),
    dry_run: z.boolean().default(true),
  })
  .strict();
export const publishQuery = z.object({ if_changed: z.enum(["true", "false"]).optional() });

async function readDefinition(c: Parameters<typeof readJson>[0]): Promise<Definition> {
  const { value } = await readJson(c, anyObject, MAX_DEFINITION_BYTES).catch((err: unknown) => {
    if (err instanceof AppError && err.status === 413) {
      throw new AppError(
        413,
        "definition_too_large",
        `A workflow definition may be at most ${MAX_DEFINITION_BYTES} bytes.`,
      );
    }
    throw err;
  });
  const result = validateDefinition(value, kindSpecs);
  const errors = result.ok
    ? [
        ...literalUrlErrors(result.definition, allowedHosts(c.env)),
        ...modelErrors(result.definition, c.env as unknown as Record<string, unknown>),
      ]
    : result.errors;
  if (!result.ok || errors.length)
    throw new AppError(400, "invalid_definition", "The workflow definition is invalid.", { errors });
  return result.definition;
}

// URL fields the engine will fetch; a literal one is vetted now, a templated one when it runs.
const URL_FIELDS: Record<string, string[]> = { http: ["url"], create_monitor: ["url", "webhook_url"] };

function literalUrlErrors(def: Definition, allowed: string[]): FieldError[] {
  return def.nodes.flatMap((n, i) =>
    (URL_FIELDS[n.kind] ?? []).flatMap((field) => {
      const value = n.config[field];
      if (typeof value !== "string" || value.includes("{{")) return [];
      const vetted = checkUrl(value, allowed);
      return vetted.ok ? [] : [{ path: `nodes[${i}].config.${field}`, message: vetted.reason }];
    }),
  );
}

/**
 * Store a validated definition as a new workflow (version 1), with the Idempotency-Key semantics of every create:
 * also used to instantiate templates. A replay answers with version 1 as it was stored.
 */
export async function storeWorkflow(c: Context<AppEnv>, definition: Definition, extra: Record<string, unknown> = {}) {
  const db = c.get("db").db;
  const tenantId = c.get("tenantId");
  const result = await idempotentCreate(
    db,
    { tenantId, scope: "workflow", key: idempotencyKeyOf(c), request: definition, id: newId("wf") },
    async (id) => {
      const now = Date.now();
      const made = await repo.createWorkflow(
        db,
        { id, tenant_id: tenantId, name: definition.name, description: definition.description ?? null },
        definition,
        now,
      );
      return made
        ? {
            id,
            name: definition.name,
            description: definition.description ?? null,
            version: 1,
            latest_version: 1,
            created_at: iso(now),
            updated_at: iso(now),
            definition,
            ...extra,
          }
        : null;
    },
    async (id) => {
      const row = await repo.getWorkflow(db, tenantId, id, 1);
      return (
        row && {
          ...workflowView(row.workflow),
          version: row.version,
          definition: row.definition as Definition,
          ...extra,
        }
      );
    },
  );
  return created(c, result, (id) => `/v1/workflows/${id}`);
}

function workflowNotFound(id: string): AppError {
  return new AppError(404, "workflow_not_found", `Workflow ${id} does not exist.`);
}

function workflowView(w: repo.WorkflowRow) {
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    latest_version: w.latest_version,
    created_at: iso(w.created_at),
    updated_at: iso(w.updated_at),
  };
}

export const workflows = new Hono<AppEnv>()
  .post("/", async (c) => storeWorkflow(c, await readDefinition(c)))
  .get("/", async (c) => {
    const q = readQuery(c, listWorkflowsQuery);
    const db = c.get("db").db;
    const rows = await repo.listWorkflows(db, c.get("tenantId"), q.cursor, q.limit + 1, c.get("history").db);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return c.json({
      data: page.map((r) => ({
        ...workflowView(r.workflow),
        execution_count: Number(r.execution_count),
        last_execution: r.last_id ? { id: r.last_id, status: r.last_status, created_at: iso(r.last_created_at) } : null,
      })),
      next_cursor:
        rows.length > q.limit && last
          ? encodeCursor({ created_at: last.workflow.created_at, id: last.workflow.id })
          : null,
    });
  })
  .get("/:id", async (c) => {
    const id = c.req.param("id");
    const q = readQuery(c, getWorkflowQuery);
    const row = isId("wf", id)
      ? await repo.getWorkflow(c.get("db").db, c.get("tenantId"), id, q.version ?? null)
      : null;
    if (!row) {
      if (
        q.version !== undefined &&
        isId("wf", id) &&
        (await repo.getWorkflow(c.get("db").db, c.get("tenantId"), id, null))
      ) {
        throw new AppError(404, "version_not_found", `Workflow ${id} has no version ${q.version}.`);
      }
      throw workflowNotFound(id);
    }
    return c.json({ ...workflowView(row.workflow), version: row.version, definition: row.definition });
  })
  .get("/:id/versions", async (c) => {
    const id = c.req.param("id");
    const rows = isId("wf", id) ? await repo.listVersions(c.get("db").db, c.get("tenantId"), id) : [];
    if (rows.length === 0) throw workflowNotFound(id);
    return c.json({ data: rows.map((r) => ({ version: r.version, created_at: iso(r.created_at) })) });
  })
  .put("/:id", async (c) => {
    const id = c.req.param("id");
    const q = readQuery(c, publishQuery);
    const definition = await readDefinition(c);
    const result = isId("wf", id)
      ? await publishOnce(c.get("db").db, c.get("tenantId"), id, definition, {
          key: idempotencyKeyOf(c),
          ifChanged: q.if_changed === "true",
        })
      : null;
    if (result === null) throw workflowNotFound(id);
    if (!result.ok) throw refusal(result);
    if (!result.created) c.header("idempotent-replayed", "true");
    return c.json(result.value);
  })
  .post("/:id/migrations", async (c) => {
    const id = c.req.param("id");
    const { value } = await readJson(c, migrationBody);
    if (!isId("wf", id)) throw workflowNotFound(id);
    const tenantId = c.get("tenantId");
    const out = await migrateExecutions(c.env, c.get("db").db, c.get("history").db, tenantId, id, value);
    if (!out.ok) throw new AppError(out.status, out.code, out.message, out.errors ? { errors: out.errors } : {});
    return c.json(out.report);
  })
  .delete("/:id", async (c) => {
    const id = c.req.param("id");
    const deleted =
      isId("wf", id) && (await repo.softDeleteWorkflow(c.get("db").db, c.get("tenantId"), id, Date.now()));
    if (!deleted) throw workflowNotFound(id);
    return c.body(null, 204);
  });

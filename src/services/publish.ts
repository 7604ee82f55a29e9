// PUT /v1/workflows/:id: the next version, published once per Idempotency-Key. A client that lost the answer and
// sends again gets the version its first request published, not an identical v+1 (nor, with if_changed, "unchanged"
// for the version it made itself). The key is bound to the workflow and the definition.
import type { Db } from "../db/client";
import { createRequestResource } from "../db/idempotency-repo";
import * as repo from "../db/repo";
import type { Definition } from "../engine/dag";
import { newId } from "../lib/ids";
import { idempotentCreate, type CreateResult } from "./idempotent-create";

export interface Published {
  id: string;
  version: number;
  latest_version: number;
  definition: Definition;
  /** False: `ifChanged` and the latest version is this definition already, so nothing was published. */
  changed: boolean;
}

/** Carry "no such workflow" and "unchanged" out of idempotentCreate, which frees the key when its create throws. */
class NotFound extends Error {}
class Unchanged extends Error {
  constructor(readonly latest: Published) {
    super("unchanged");
  }
}

/**
 * The version published now (`created`), or published earlier under `key` (not `created`), or with `ifChanged` the
 * latest when it is this definition already (`created`: this request's own answer, `changed: false`); null: no such
 * workflow. The key is looked up before the comparison, so a retry of a publish is its version, not "unchanged".
 */
export async function publishOnce(
  db: Db,
  tenantId: string,
  workflowId: string,
  definition: Definition,
  { key, ifChanged }: { key: string | undefined; ifChanged: boolean },
): Promise<CreateResult<Published> | null> {
  const meta = { name: definition.name, description: definition.description ?? null };
  const version = (v: number, latest: number, def: Definition): Published => ({
    id: workflowId,
    version: v,
    latest_version: latest,
    definition: def,
    changed: true,
  });
  const claim = key === undefined ? undefined : { scope: "version" as const, key };
  try {
    return await idempotentCreate(
      db,
      { tenantId, scope: "version", key, request: { workflow_id: workflowId, definition }, id: newId("pub") },
      async (token) => {
        if (ifChanged) {
          // Both sides are the validator's output (defaults filled, keys in schema order): equal JSON, equal meaning.
          const latest = await repo.getWorkflow(db, tenantId, workflowId, null);
          if (latest && JSON.stringify(latest.definition) === JSON.stringify(definition))
            throw new Unchanged({ ...version(latest.version, latest.version, definition), changed: false });
        }
        const v = await repo.publishVersion(
          db,
          tenantId,
          workflowId,
          meta,
          definition,
          Date.now(),
          claim && { ...claim, token },
        );
        if (v !== null) return version(v, v, definition);
        // Not published: the workflow is gone, or another request holding this key published first (load finds it).
        if (!(await repo.getWorkflow(db, tenantId, workflowId, null))) throw new NotFound();
        return null;
      },
      async (resource) => {
        // The claim holds the token until the publish's own batch rebinds it to the version's number.
        const bound = /^\d+$/.test(resource)
          ? resource
          : claim && (await createRequestResource(db, { tenant_id: tenantId, ...claim }));
        if (!bound || !/^\d+$/.test(bound)) return null;
        const row = await repo.getWorkflow(db, tenantId, workflowId, Number(bound));
        return row && version(row.version, row.workflow.latest_version, row.definition as Definition);
      },
    );
  } catch (err) {
    if (err instanceof NotFound) return null;
    if (err instanceof Unchanged) return { ok: true, created: true, value: err.latest };
    throw err;
  }
}

// Fork an execution at a node: read the source's committed state from its object, plan what the fork keeps and what
// runs again (src/engine/fork.ts), and start it through the one start pipeline, on the source's version and lane.
import type { Db } from "../db/client";
import { forkSourceOf } from "../durable/client";
import type { FieldError } from "../engine/dag";
import type { Definition } from "../engine/dag";
import { childKey, childRefs, hasSideEffects, planFork, type ChildRef, type ForkRequest } from "../engine/fork";
import { getWorkflow } from "../db/repo";
import { startExecution, type Started, type StartRefused } from "./start";

export type ForkAnswer =
  | { ok: true; started: Started; kept: number; rerun: string[] }
  | { ok: false; notFound: true }
  | { ok: false; plan: PlanRefusal }
  | { ok: false; refusal: StartRefused };

export interface PlanRefusal {
  code: string;
  message: string;
  errors: FieldError[];
}

/**
 * Fork `sourceId` as `req` asks. With an Idempotency-Key a retried request is the same fork (the start's own claim,
 * bound to the source and the request), never a second run of its side effects.
 */
export async function forkExecution(
  env: Env,
  db: Db,
  tenantId: string,
  sourceId: string,
  req: ForkRequest,
  idempotencyKey?: string,
): Promise<ForkAnswer> {
  const source = await forkSourceOf(env, sourceId, tenantId);
  if (!source) return { ok: false, notFound: true };
  const childActs = req.effects === "mock" ? await childrenThatAct(db, tenantId, source.definition) : undefined;
  const plan = planFork(sourceId, source.definition, source.input, source.nodes, req, childActs);
  if (!plan.ok) return { ok: false, plan };
  const started = await startExecution(env, db, {
    tenantId,
    workflowId: source.workflow_id,
    version: source.version,
    input: plan.input,
    idempotencyKey,
    inFlight: "conflict",
    requestForHash: { forked_from: sourceId, fork: req },
    lane: source.lane,
    tags: ["fork"],
    metadata: { forked_from: sourceId, fork_node: req.from_node, ...(req.label ? { fork_label: req.label } : {}) },
    fork: { info: plan.info, seeds: plan.seeds },
  });
  if (!started.ok) return { ok: false, refusal: started };
  return { ok: true, started, kept: plan.seeds.filter((s) => !s.patched).length, rerun: plan.rerun };
}

// How deep a fork looks into children of children; a deeper one is taken to act on the world (and mocked).
const MAX_CHILD_DEPTH = 4;

/**
 * Which child workflows of `def` act on the world, read from their definitions (the version the node pins, else the
 * latest): a `workflow` node whose child only reads and computes runs in a `mock` fork instead of being mocked. A
 * child that is gone, too deep, or part of a cycle counts as acting.
 */
async function childrenThatAct(db: Db, tenantId: string, def: Definition): Promise<(r: ChildRef) => boolean> {
  const acts = new Map<string, boolean>();
  const actsOf = (r: ChildRef) => acts.get(childKey(r)) ?? true;
  const visit = async (d: Definition, depth: number): Promise<void> => {
    for (const ref of childRefs(d)) {
      const key = childKey(ref);
      if (acts.has(key)) continue;
      acts.set(key, true);
      if (depth >= MAX_CHILD_DEPTH) continue;
      const row = await getWorkflow(db, tenantId, ref.workflow_id, ref.version ?? null);
      if (!row) continue;
      const child = row.definition as Definition;
      await visit(child, depth + 1);
      acts.set(
        key,
        child.nodes.some((n) => hasSideEffects(n, actsOf)),
      );
    }
  };
  await visit(def, 0);
  return actsOf;
}

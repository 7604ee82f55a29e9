// Fork an execution at a node: read the source's committed state from its object, plan what the fork keeps and what
// runs again (src/engine/fork.ts), and start it through the one start pipeline, on the source's version and lane.
import type { Db } from "../db/client";
import { forkSourceOf } from "../durable/client";
import type { FieldError } from "../engine/dag";
import { planFork, type ForkRequest } from "../engine/fork";
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

export async function forkExecution(
  env: Env,
  db: Db,
  tenantId: string,
  sourceId: string,
  req: ForkRequest,
): Promise<ForkAnswer> {
  const source = await forkSourceOf(env, sourceId, tenantId);
  if (!source) return { ok: false, notFound: true };
  const plan = planFork(sourceId, source.definition, source.input, source.nodes, req);
  if (!plan.ok) return { ok: false, plan };
  const started = await startExecution(env, db, {
    tenantId,
    workflowId: source.workflow_id,
    version: source.version,
    input: plan.input,
    requestForHash: null,
    lane: source.lane,
    tags: ["fork"],
    metadata: { forked_from: sourceId, fork_node: req.from_node, ...(req.label ? { fork_label: req.label } : {}) },
    fork: { info: plan.info, seeds: plan.seeds },
  });
  if (!started.ok) return { ok: false, refusal: started };
  return { ok: true, started, kept: plan.seeds.filter((s) => !s.patched).length, rerun: plan.rerun };
}

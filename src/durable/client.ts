// Stubs take their types from Env's bindings (wrangler types names each class there), not from the classes' own
// modules: those import this one, and a type import back would close an import cycle.
import type { Admitted } from "../engine/concurrency-key";
import type { ExecutionStatus } from "../engine/events";
import type { ForkSource } from "../engine/fork";
import type { StartParams } from "../engine/run/state";
import type { ExecutionView } from "./view";

/**
 * How a reset ExecutionObject's abort reason starts. Errors crossing the RPC boundary keep only their message, so
 * this stable prefix is what tells callers the object reset itself and the call can be retried.
 */
export const RESET_REASON = "execution_reset";

/** The ExecutionObject that owns execution `id` (one object per execution, addressed by name). */
export function executionStub(env: Env, id: string) {
  return env.EXECUTION.get(env.EXECUTION.idFromName(id));
}

/** The TenantObject holding tenant-wide counters (subscriber slots). */
export function tenantStub(env: Env, tenantId: string) {
  return env.TENANT.get(env.TENANT.idFromName(tenantId));
}

// Rpc's serialisable-type mapping turns `unknown` payload fields (input, output) into `never`;
// these wrappers restore the declared view type in one place.

/** What ExecutionObject.start answers: the execution's id and status, and with a wait its view. */
export interface StartAnswer {
  id: string;
  status: ExecutionStatus;
  created: boolean;
  unadmitted?: true;
  view?: ExecutionView;
}

export async function startIn(
  env: Env,
  p: StartParams,
  admitted: Admitted | null,
  waitMs: number,
): Promise<StartAnswer> {
  return (await executionStub(env, p.id).start(p, admitted, waitMs)) as unknown as StartAnswer;
}

export async function snapshotOf(env: Env, id: string, tenantId: string): Promise<ExecutionView | null> {
  return (await executionStub(env, id).snapshot(tenantId)) as unknown as ExecutionView | null;
}

export async function settledOf(
  env: Env,
  id: string,
  tenantId: string,
  timeoutMs: number,
): Promise<ExecutionView | null> {
  return (await executionStub(env, id).settled(tenantId, timeoutMs)) as unknown as ExecutionView | null;
}

export async function forkSourceOf(env: Env, id: string, tenantId: string): Promise<ForkSource | null> {
  return (await executionStub(env, id).forkSource(tenantId)) as unknown as ForkSource | null;
}

/** The monitor checker objects a tick spreads its checks over: a fixed pool, so names (and objects) are reused. */
export function checkerStub(env: Env, index: number) {
  return env.CHECKER.get(env.CHECKER.idFromName(`checker-${index % 256}`));
}

/** The circuit breaker and admission windows of one LLM provider, shared by every isolate. */
export function breakerStub(env: Env, provider: string) {
  return env.BREAKER.get(env.BREAKER.idFromName(provider));
}

/** The tenant-wide queue of running executions (capacity MAX_RUNNING_EXECUTIONS_PER_TENANT). */
export const RUNNING_SLOTS = "__running__";

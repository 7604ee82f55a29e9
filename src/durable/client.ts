import type { ExecutionObject } from "./execution";
import type { BreakerObject } from "./breaker";
import type { TenantObject } from "./tenant";
import type { ExecutionView } from "./view";

/** The ExecutionObject that owns execution `id` (one object per execution, addressed by name). */
export function executionStub(env: Env, id: string): DurableObjectStub<ExecutionObject> {
  return env.EXECUTION.get(env.EXECUTION.idFromName(id));
}

/** The TenantObject holding tenant-wide counters (subscriber slots). */
export function tenantStub(env: Env, tenantId: string): DurableObjectStub<TenantObject> {
  return env.TENANT.get(env.TENANT.idFromName(tenantId));
}

// Rpc's serialisable-type mapping turns `unknown` payload fields (input, output) into `never`;
// these wrappers restore the declared view type in one place.

export async function snapshotOf(env: Env, id: string, tenantId: string): Promise<ExecutionView | null> {
  return (await executionStub(env, id).snapshot(tenantId)) as unknown as ExecutionView | null;
}

export async function settledOf(env: Env, id: string, tenantId: string, timeoutMs: number): Promise<ExecutionView | null> {
  return (await executionStub(env, id).settled(tenantId, timeoutMs)) as unknown as ExecutionView | null;
}

/** The circuit breaker of one LLM provider, shared by every isolate. */
export function breakerStub(env: Env, provider: string): DurableObjectStub<BreakerObject> {
  return env.BREAKER.get(env.BREAKER.idFromName(provider));
}

/** Give up an execution's concurrency key and wake the execution next in line (its poll alarm is the backstop). */
export async function releaseKey(env: Env, exec: { id: string; tenant_id: string; concurrency_key: string | null }): Promise<void> {
  if (!exec.concurrency_key) return;
  const next = await tenantStub(env, exec.tenant_id).releaseKey(exec.concurrency_key, exec.id);
  if (next) await executionStub(env, next).poke();
}

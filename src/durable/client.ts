import type { ExecutionObject } from "./execution";
import type { TenantObject } from "./tenant";

/** The ExecutionObject that owns execution `id` (one object per execution, addressed by name). */
export function executionStub(env: Env, id: string): DurableObjectStub<ExecutionObject> {
  return env.EXECUTION.get(env.EXECUTION.idFromName(id));
}

/** The TenantObject holding tenant-wide counters (subscriber slots). */
export function tenantStub(env: Env, tenantId: string): DurableObjectStub<TenantObject> {
  return env.TENANT.get(env.TENANT.idFromName(tenantId));
}

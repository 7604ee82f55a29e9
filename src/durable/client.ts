import type { ExecutionObject } from "./execution";

/** The ExecutionObject that owns execution `id` (one object per execution, addressed by name). */
export function executionStub(env: Env, id: string): DurableObjectStub<ExecutionObject> {
  return env.EXECUTION.get(env.EXECUTION.idFromName(id));
}

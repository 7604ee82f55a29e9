import type { ExecutionObject } from "./execution";

/** The ExecutionObject that owns execution `id` (one object per execution, addressed by name). */
export function executionStub(env: Env, id: string): DurableObjectStub<ExecutionObject> {
  const ns = env.EXECUTION as unknown as DurableObjectNamespace<ExecutionObject>;
  return ns.get(ns.idFromName(id));
}

// Which nodes a redrive resets: a named node and everything downstream of it, or every node that did not
// succeed and everything downstream of those. Called by the ExecutionObject; pure.
import type { Definition } from "./dag";
import type { NodeStatus } from "./events";

export type RedrivePlan =
  { ok: true; reset: string[] } | { ok: false; code: "unknown_node" | "nothing_to_redrive"; message: string };

export function redrivePlan(
  def: Definition,
  status: ReadonlyMap<string, NodeStatus>,
  fromNode: string | undefined,
): RedrivePlan {
  const dependents = new Map<string, string[]>();
  for (const n of def.nodes) for (const need of n.needs) dependents.set(need, [...(dependents.get(need) ?? []), n.id]);
  let roots: string[];
  if (fromNode !== undefined) {
    if (!status.has(fromNode))
      return { ok: false, code: "unknown_node", message: `no node "${fromNode}" in this execution` };
    roots = [fromNode];
  } else {
    roots = def.nodes.filter((n) => status.get(n.id) !== "succeeded").map((n) => n.id);
    if (roots.length === 0)
      return {
        ok: false,
        code: "nothing_to_redrive",
        message: "every node succeeded; name from_node to run part of it again",
      };
  }
  const reset = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop() as string;
    if (reset.has(id)) continue;
    reset.add(id);
    stack.push(...(dependents.get(id) ?? []));
  }
  return { ok: true, reset: def.nodes.map((n) => n.id).filter((id) => reset.has(id)) };
}

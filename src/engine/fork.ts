// Forking a run at a node ("what if this node had answered X?"): which nodes the fork keeps from its source, which
// run again, which of those may reuse a recorded model answer and which are mocked because they act on the world.
// Pure: the ExecutionObject gives the source's committed nodes, the start pipeline starts what this plans.
import type { Definition, FieldError, NodeDef } from "./dag";
import type { NodeStatus } from "./events";
import type { Lane } from "./fair-share";
import { validateInput } from "./input";
import { redrivePlan } from "./redrive";

export type ForkEffects = "mock" | "allow";

export interface ForkRequest {
  from_node: string;
  /** RFC 7396 merge patch over the source's output of from_node: the node is not run, its patched output is kept. */
  output_patch?: unknown;
  /** RFC 7396 merge patch over the source's input: from_node and everything downstream see the patched input. */
  input_patch?: Record<string, unknown> | undefined;
  effects: ForkEffects;
  label?: string | undefined;
}

/** A node of the source as it was committed when the fork was asked for. */
export interface SourceNode {
  id: string;
  status: NodeStatus;
  output: unknown;
  request_hash: string | null;
}

/** What the source's object answers for a fork: its version, definition, input and lane, and its nodes. */
export interface ForkSource {
  workflow_id: string;
  version: number;
  input: unknown;
  definition: Definition;
  lane: Lane;
  nodes: SourceNode[];
}

/** What a fork execution keeps about where it came from, and what its re-run nodes may take from there. */
export interface ForkInfo {
  from_execution_id: string;
  from_node: string;
  effects: ForkEffects;
  label: string | null;
  /**
   * Nodes kept from the source as they were: the source's D1 history has them, so the fork's projection writes no
   * row (and no result) for them; a fork adds rows only for what it ran or patched.
   */
  kept: string[];
  /** Model nodes the source answered: reused when the fork's rendered request is byte-identical. */
  reuse: Record<string, { request_hash: string; output: unknown }>;
  /** Side-effect nodes run again in `mock` mode: the source's output stands in (null: the source has none). */
  mocks: Record<string, { output: unknown } | null>;
}

/** A node the fork starts finished: kept from the source, or from_node with its patched output. */
export interface ForkSeed {
  node_id: string;
  status: "succeeded" | "skipped";
  output: unknown;
  patched: boolean;
}

export type ForkPlan =
  | { ok: true; input: unknown; seeds: ForkSeed[]; info: ForkInfo; rerun: string[] }
  | { ok: false; code: string; message: string; errors: FieldError[] };

/** Node kinds that act on the world when they run (an http node unless its method is GET or HEAD). */
const EFFECT_KINDS = new Set(["email", "create_monitor", "approval"]);

/** The workflow a `workflow` node starts as its child, and the version when it pins one (else the latest). */
export interface ChildRef {
  workflow_id: string;
  version?: number | undefined;
}

export const childKey = (r: ChildRef): string => `${r.workflow_id}@${r.version ?? "latest"}`;

/** A map's item as a node of its own (the map's id, no needs), or null for a map without one. */
function itemOf(def: NodeDef): NodeDef | null {
  const item = (def.config as { node?: NodeDef }).node;
  return item ? ({ ...item, id: def.id, needs: [] } as NodeDef) : null;
}

/** The children a definition's nodes start: its `workflow` nodes, and maps whose item is one. */
export function childRefs(def: Definition): ChildRef[] {
  const refs: ChildRef[] = [];
  for (const n of def.nodes) {
    const node = n.kind === "map" ? itemOf(n) : n;
    if (node?.kind === "workflow") refs.push(node.config as unknown as ChildRef);
  }
  return refs;
}

/**
 * Whether a node acts on the world when it runs. A child workflow acts when any of its nodes does: `childActs` says
 * so per child (src/services/fork.ts reads the children's definitions); one it does not know counts as acting.
 */
export function hasSideEffects(def: NodeDef, childActs: (r: ChildRef) => boolean = () => true): boolean {
  if (def.kind === "http") {
    const method = String((def.config as { method?: unknown }).method ?? "GET").toUpperCase();
    return method !== "GET" && method !== "HEAD";
  }
  if (def.kind === "map") {
    const item = itemOf(def);
    return item ? hasSideEffects(item, childActs) : false;
  }
  if (def.kind === "workflow") return childActs(def.config as unknown as ChildRef);
  return EFFECT_KINDS.has(def.kind);
}

/** RFC 7396 JSON Merge Patch: objects merge key by key, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** What a node's output must look like, where the definition says: an llm node's text, or its JSON by json_schema. */
export function outputContractErrors(def: NodeDef, output: unknown, root: string): FieldError[] {
  if (def.kind !== "llm") return [];
  const c = def.config as { response_format?: string; json_schema?: Record<string, unknown> };
  if (!isObject(output)) return [{ path: root, message: "an llm node's output is an object" }];
  if (c.response_format === "json") {
    if (!("json" in output)) return [{ path: `${root}.json`, message: "required: this node answers JSON" }];
    return c.json_schema ? validateInput(c.json_schema, output.json, `${root}.json`) : [];
  }
  return typeof output.text === "string" ? [] : [{ path: `${root}.text`, message: "must be a string" }];
}

const refused = (code: string, message: string, errors: FieldError[]): ForkPlan => ({
  ok: false,
  code,
  message,
  errors,
});

/** Plan a fork of `sourceId` (its definition, input and committed nodes) as the request asks. */
export function planFork(
  sourceId: string,
  def: Definition,
  input: unknown,
  nodes: readonly SourceNode[],
  req: ForkRequest,
  childActs?: (r: ChildRef) => boolean,
): ForkPlan {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const fromDef = def.nodes.find((n) => n.id === req.from_node);
  if (!fromDef)
    return refused("unknown_node", `Execution ${sourceId} has no node "${req.from_node}".`, [
      { path: "from_node", message: `one of ${def.nodes.map((n) => n.id).join(", ")}` },
    ]);
  const cone = redrivePlan(def, new Map(nodes.map((n) => [n.id, n.status])), req.from_node);
  if (!cone.ok) return refused(cone.code, cone.message, [{ path: "from_node", message: cone.message }]);
  const rerun = new Set(cone.reset);
  const seeds: ForkSeed[] = [];
  const patching = req.output_patch !== undefined;
  if (patching) {
    const source = byId.get(req.from_node);
    if (source?.status !== "succeeded")
      return refused(
        "fork_node_not_finished",
        `Node "${req.from_node}" of execution ${sourceId} has not succeeded (${source?.status ?? "absent"}): there is no output to patch.`,
        [{ path: "output_patch", message: "patch a node that succeeded, or leave output_patch out to run it again" }],
      );
    if (isObject(source.output) && typeof source.output.$ref === "string")
      return refused(
        "output_stored_externally",
        `Node "${req.from_node}" has an output stored in R2 (${String(source.output.$ref)}); it cannot be patched.`,
        [{ path: "output_patch", message: "fork without output_patch to run the node again" }],
      );
    const output = mergePatch(source.output, req.output_patch);
    const errors = outputContractErrors(fromDef, output, "output_patch");
    if (errors.length)
      return refused("output_patch_invalid", `The patched output does not fit node "${req.from_node}".`, errors);
    seeds.push({ node_id: req.from_node, status: "succeeded", output, patched: true });
    rerun.delete(req.from_node);
  }
  for (const n of def.nodes) {
    const source = byId.get(n.id);
    if (rerun.has(n.id) || n.id === req.from_node || !source) continue;
    if (source.status === "succeeded" || source.status === "skipped")
      seeds.push({ node_id: n.id, status: source.status, output: source.output, patched: false });
  }
  const info: ForkInfo = {
    from_execution_id: sourceId,
    from_node: req.from_node,
    effects: req.effects,
    label: req.label ?? null,
    kept: seeds.filter((s) => !s.patched).map((s) => s.node_id),
    reuse: {},
    mocks: {},
  };
  for (const n of def.nodes) {
    if (!rerun.has(n.id)) continue;
    const source = byId.get(n.id);
    const answered = source?.status === "succeeded";
    if (n.kind === "llm" && answered && source.request_hash)
      info.reuse[n.id] = { request_hash: source.request_hash, output: source.output };
    if (req.effects === "mock" && hasSideEffects(n, childActs))
      info.mocks[n.id] = answered ? { output: source.output } : null;
  }
  const forkInput = req.input_patch ? mergePatch(input, req.input_patch) : input;
  return { ok: true, input: forkInput, seeds, info, rerun: def.nodes.map((n) => n.id).filter((id) => rerun.has(id)) };
}

/**
 * A side-effect node mocked in a fork: the source's output stands in, and a node the source has no output of fails
 * (fatal) rather than inventing one. The same for a plain node's attempt and for a map mocked whole.
 */
export function mockedEffect(
  nodeId: string,
  source: string,
  mock: { output: unknown } | null,
): { ok: true; output: unknown } | { ok: false; error: { code: string; message: string; retryable: false } } {
  if (mock) return { ok: true, output: mock.output };
  const message = `node "${nodeId}" acts on the world and this fork mocks side effects, but ${source} has no output of it to stand in; fork with effects "allow" to run it`;
  return { ok: false, error: { code: "fork_effect_mocked", message, retryable: false } };
}

// Workflow definition schema and validation (ids, needs, cycles, node configs, expressions); called by the workflow
// routes.
import { z } from "zod";
import { retryPolicySchema } from "./retry";
import { compile, ExpressionError, templatesIn } from "./expr";
import { checkReferences } from "./references";
import { checkJsonSchema } from "./input";
import { approvalOutlivesRun } from "./approval";

export const MAX_NODES = 1000;
export const MAX_DEFINITION_BYTES = 256 * 1024;
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const RESULT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const nodeId = z.string().regex(NODE_ID, "must match ^[A-Za-z0-9_-]{1,64}$");

export const nodeSchema = z
  .object({
    id: nodeId,
    kind: z.string().min(1).max(64),
    needs: z.array(nodeId).max(MAX_NODES).default([]),
    when: z.string().min(1).max(4096).optional(),
    config: z.record(z.string(), z.unknown()).default({}),
    retry: retryPolicySchema.optional(),
    timeout_ms: z.number().int().min(1).max(900_000).optional(),
    continue_on_failure: z.boolean().default(false),
    /**
     * "run": a need that was skipped (an optional branch not taken) counts as done, so branches can join again;
     * read its output with $exists(). Default "skip": a skipped need skips this node too.
     */
    on_skipped_need: z.enum(["skip", "run"]).default("skip"),
    /**
     * The node's output is a result of the workflow: written to the results table under `name` and the rendered `key`
     * (a template over input, upstream outputs and this node's own output), queryable and exportable (/v1/results).
     */
    result: z
      .object({
        name: z.string().regex(RESULT_NAME, "must be a slug: ^[a-z0-9][a-z0-9_-]{0,62}$"),
        key: z.string().min(1).max(512).optional(),
      })
      .strict()
      .optional(),
    /**
     * Files the node returns: a template rendering to [{path, content}] (over its own output too), written to R2 when
     * the node succeeds; listed at /v1/executions/:id/artifacts and streamed as artifacts.zip.
     */
    artifacts: z.string().min(1).max(4096).optional(),
  })
  .strict();

/** Node kinds whose success does not come from their own attempt: their output is not a result (add a transform). */
export const NO_RESULT_KINDS: ReadonlySet<string> = new Set(["map", "wait_for_event", "workflow", "sleep", "approval"]);

/** How long an execution may run, in seconds: a workflow's default, a start's override, a child's. */
export const executionTimeoutSeconds = z
  .number()
  .int()
  .min(1)
  .max(30 * 86_400);

export const definitionSchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    input_schema: z.record(z.string(), z.unknown()).optional(),
    timeout_seconds: executionTimeoutSeconds.default(7200),
    max_parallel: z.number().int().min(1).max(64).default(8),
    /** A template over input (e.g. "{{ input.file_path }}"): executions with the same key run one at a time. */
    concurrency_key: z.string().min(1).max(512).optional(),
    /** Days a finished execution of this workflow is kept; overrides the deployment's RETENTION_DAYS. */
    retention_days: z.number().int().min(1).max(3650).optional(),
    nodes: z.array(nodeSchema).min(1).max(MAX_NODES),
  })
  .strict();

export type NodeDef = z.output<typeof nodeSchema>;
export type Definition = z.output<typeof definitionSchema>;

/** What the validator needs to know about a node kind: its config schema and which fields are bare expressions. */
export interface NodeKindSpec {
  config: z.ZodType;
  expressionFields?: readonly string[];
  /** Config fields holding a whole node template, which `check` validates itself (with that node's own rules). */
  nestedFields?: readonly string[];
  /** Checks beyond the config schema, given the node (with its parsed config) and the node's path. */
  check?(node: CheckedNode, at: readonly (string | number)[], kinds: Record<string, NodeKindSpec>): FieldError[];
}

/** What `checkNode` looks at: a node in a definition, or a node template nested in another node's config. */
export interface CheckedNode {
  kind: string;
  config: Record<string, unknown>;
  when?: string | undefined;
  retry?: unknown;
  timeout_ms?: number | undefined;
}

export interface FieldError {
  path: string;
  message: string;
}

export type Validated = { ok: true; definition: Definition } | { ok: false; errors: FieldError[] };

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    "",
  );
}

export function zodErrors(error: z.ZodError, prefix: readonly PropertyKey[] = []): FieldError[] {
  // An unknown field is reported at its own path, not at the object that holds it.
  return error.issues.flatMap((i) =>
    (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]).map((path) => ({
      path: formatPath([...prefix, ...path]) || "(root)",
      message: i.code === "unrecognized_keys" ? "Unknown field" : i.message,
    })),
  );
}

/** Validate a raw definition completely; every problem is reported with the exact path. */
export function validateDefinition(raw: unknown, kinds: Record<string, NodeKindSpec>): Validated {
  // "$schema" tells an editor where the JSON Schema is (schemas/workflow.json); it is not part of the definition.
  if (raw && typeof raw === "object" && !Array.isArray(raw) && "$schema" in raw) {
    const { $schema: _editorHint, ...rest } = raw as Record<string, unknown>;
    raw = rest;
  }
  const parsed = definitionSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error) };
  const def = parsed.data;
  const errors: FieldError[] = [];
  if (def.input_schema) {
    const problem = checkJsonSchema(def.input_schema);
    if (problem) errors.push({ path: "input_schema", message: problem });
  }
  if (def.concurrency_key) errors.push(...compileErrors(templatesIn(def.concurrency_key), "concurrency_key"));
  const index = new Map<string, number>();
  def.nodes.forEach((n, i) => {
    if (index.has(n.id))
      errors.push({
        path: `nodes[${i}].id`,
        message: `duplicate node id "${n.id}" (first at nodes[${index.get(n.id)}])`,
      });
    else index.set(n.id, i);
  });
  def.nodes.forEach((n, i) => {
    n.needs.forEach((need, j) => {
      if (need === n.id) errors.push({ path: `nodes[${i}].needs[${j}]`, message: `node "${n.id}" cannot need itself` });
      else if (!index.has(need)) errors.push({ path: `nodes[${i}].needs[${j}]`, message: `unknown node "${need}"` });
    });
    if (new Set(n.needs).size !== n.needs.length)
      errors.push({ path: `nodes[${i}].needs`, message: "duplicate entries" });
    errors.push(...checkNode(n, ["nodes", i], kinds));
    if (n.kind === "approval") errors.push(...approvalOutlivesRun(n.config, def.timeout_seconds, `nodes[${i}]`));
    for (const field of ["result", "artifacts"] as const)
      if (n[field] && NO_RESULT_KINDS.has(n.kind))
        errors.push({
          path: `nodes[${i}].${field}`,
          message: `a ${n.kind} node's ${field === "result" ? "output cannot be a result" : "success is not its own attempt: it cannot return artifacts"}; declare it on a transform that needs "${n.id}"`,
        });
    if (n.result?.key) errors.push(...compileErrors(templatesIn(n.result.key), `nodes[${i}].result.key`));
    if (n.artifacts) errors.push(...compileErrors(templatesIn(n.artifacts), `nodes[${i}].artifacts`));
  });
  if (errors.length === 0) {
    const cycle = findCycle(def.nodes);
    if (cycle) errors.push({ path: "nodes", message: `cycle in needs: ${cycle.join(" -> ")}` });
  }
  // References need a sound graph (known needs, no cycle) to say what is upstream of what.
  if (errors.length === 0) {
    const sites = def.nodes.flatMap((n, i) => [
      ...expressionsOf(n, ["nodes", i], kinds, true).map((e) => ({ node: n.id, ...e })),
      // A result's key is rendered once the node has succeeded, so it may read the node's own output too.
      ...templatesIn(n.result?.key ?? "").map((t) => ({
        node: n.id,
        path: `nodes[${i}].result.key`,
        expression: t.expression,
        readsOwnOutput: true,
      })),
      ...templatesIn(n.artifacts ?? "").map((t) => ({
        node: n.id,
        path: `nodes[${i}].artifacts`,
        expression: t.expression,
        readsOwnOutput: true,
      })),
    ]);
    const concurrency = def.concurrency_key
      ? templatesIn(def.concurrency_key).map((t) => ({ node: null, path: "concurrency_key", expression: t.expression }))
      : [];
    errors.push(...checkReferences(def.nodes, [...sites, ...concurrency], declaredInputs(def.input_schema)));
  }
  return errors.length ? { ok: false, errors } : { ok: true, definition: def };
}

/** An error per template that does not compile, at `path`. */
function compileErrors(templates: readonly { expression: string }[], path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const t of templates) {
    try {
      compile(t.expression);
    } catch (err) {
      errors.push({
        path,
        message: `invalid expression: ${err instanceof ExpressionError ? err.message : String(err)}`,
      });
    }
  }
  return errors;
}

/**
 * Check one node (or a node template nested in another's config, like a map's `node`) against its kind:
 * config schema, `when`, templates and bare expressions. `at` is the JSON path of the node.
 */
export function checkNode(
  n: CheckedNode,
  at: readonly (string | number)[],
  kinds: Record<string, NodeKindSpec>,
): FieldError[] {
  const spec = kinds[n.kind];
  if (!spec) {
    return [
      {
        path: formatPath([...at, "kind"]),
        message: `unknown kind "${n.kind}" (known: ${Object.keys(kinds).join(", ")})`,
      },
    ];
  }
  const errors: FieldError[] = [];
  const cfg = spec.config.safeParse(n.config);
  if (!cfg.success) errors.push(...zodErrors(cfg.error, [...at, "config"]));
  else if (spec.check) errors.push(...spec.check({ ...n, config: cfg.data as Record<string, unknown> }, at, kinds));
  for (const e of expressionsOf(n, at, kinds, false)) {
    try {
      compile(e.expression);
    } catch (err) {
      errors.push({
        path: e.path,
        message: `invalid expression: ${err instanceof ExpressionError ? err.message : String(err)}`,
      });
    }
  }
  return errors;
}

/**
 * A node's expressions with their JSON paths: `when`, bare expression fields and every `{{ }}` template in its config.
 * With `nested`, node templates held in its config (a map's `node`) are included too.
 */
export function expressionsOf(
  n: CheckedNode,
  at: readonly (string | number)[],
  kinds: Record<string, NodeKindSpec>,
  nested: boolean,
): { path: string; expression: string }[] {
  const spec = kinds[n.kind];
  if (!spec) return [];
  const exprFields = new Set(spec.expressionFields ?? []);
  const expressions: { path: string; expression: string }[] = [];
  if (n.when) expressions.push({ path: formatPath([...at, "when"]), expression: n.when });
  for (const [key, value] of Object.entries(n.config ?? {})) {
    if (exprFields.has(key) && typeof value === "string") {
      expressions.push({ path: formatPath([...at, "config", key]), expression: value });
    } else if (!spec.nestedFields?.includes(key)) {
      for (const t of templatesIn(value, [...at, "config", key]))
        expressions.push({ path: formatPath(t.path), expression: t.expression });
    } else if (nested && value && typeof value === "object") {
      const inner = value as CheckedNode;
      expressions.push(...expressionsOf({ ...inner, config: inner.config ?? {} }, [...at, "config", key], kinds, true));
    }
  }
  return expressions;
}

/**
 * The input properties a schema declares, when it declares any (then `input.<name>` must be one of them), and which of
 * them a caller may leave out (not required; a JSON Schema `default` is documentation, it fills nothing in).
 */
function declaredInputs(
  schema: Record<string, unknown> | undefined,
): { properties: string[]; optional: ReadonlySet<string> } | null {
  const props = schema?.properties;
  if (!props || typeof props !== "object" || Array.isArray(props)) return null;
  const required = new Set(Array.isArray(schema?.required) ? (schema.required as string[]) : []);
  const properties = Object.keys(props);
  return { properties, optional: new Set(properties.filter((p) => !required.has(p))) };
}

/** Kahn's algorithm; when nodes remain, walk their `needs` to name one concrete cycle. */
export function findCycle(nodes: readonly Pick<NodeDef, "id" | "needs">[]): string[] | null {
  const indegree = new Map(nodes.map((n) => [n.id, n.needs.length]));
  const dependents = new Map<string, string[]>();
  for (const n of nodes) for (const need of n.needs) dependents.set(need, [...(dependents.get(need) ?? []), n.id]);
  const queue = nodes.filter((n) => n.needs.length === 0).map((n) => n.id);
  let seen = 0;
  while (queue.length) {
    const id = queue.pop() as string;
    seen++;
    for (const d of dependents.get(id) ?? []) {
      const left = (indegree.get(d) ?? 0) - 1;
      indegree.set(d, left);
      if (left === 0) queue.push(d);
    }
  }
  if (seen === nodes.length) return null;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const stuck = new Set([...indegree].filter(([, d]) => d > 0).map(([id]) => id));
  // Every stuck node has a stuck need, so following needs from any stuck node must revisit one.
  const path: string[] = [];
  const at = new Map<string, number>();
  let cur = stuck.values().next().value as string;
  while (!at.has(cur)) {
    at.set(cur, path.length);
    path.push(cur);
    cur = (byId.get(cur)?.needs ?? []).find((need) => stuck.has(need)) as string;
  }
  const cycle = path.slice(at.get(cur));
  return [...cycle, cycle[0] as string];
}

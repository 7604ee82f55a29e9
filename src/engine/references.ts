// Which `nodes.<id>` and `input.<name>` an expression reads, and whether each is there to read: checked when a
// definition is saved (dag.ts), so a renamed field or a missing `needs` fails loudly instead of rendering empty.
import { compile } from "./expr";
import { strictOperands } from "./strict";

export interface ReferenceSite {
  /** The node whose expression this is (a map's item template counts as its map node); null before any node runs. */
  node: string | null;
  path: string;
  expression: string;
  /** A result key, rendered after the node succeeded: it may read the node's own output. */
  readsOwnOutput?: boolean;
}

type Ast = { type?: string; value?: unknown; steps?: Ast[]; [k: string]: unknown };

/** Root paths an expression reads: `nodes.<id>` and `input.<name>` (also through `$$.` or `$.`). */
export function referencesIn(expression: string): { nodes: string[]; inputs: string[] } {
  const nodes = new Set<string>();
  const inputs = new Set<string>();
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== "object") return;
    const ast = n as Ast;
    const root = rootOf(ast);
    if (root?.head === "nodes") nodes.add(root.name);
    if (root?.head === "input") inputs.add(root.name);
    for (const v of Object.values(ast)) if (v && typeof v === "object") walk(v);
  };
  walk(compile(expression).ast());
  return { nodes: [...nodes], inputs: [...inputs] };
}

/** `nodes.<id>…` or `input.<name>…` read from the root (also as `$$.` or `$.`), or null for any other expression. */
function rootOf(ast: Ast): { head: string; name: string } | null {
  if (ast.type !== "path" || !Array.isArray(ast.steps)) return null;
  const steps = ast.steps;
  const first = steps[0]?.type === "variable" && (steps[0].value === "$" || steps[0].value === "") ? 1 : 0;
  const head = steps[first];
  const next = steps[first + 1];
  if (head?.type !== "name" || next?.type !== "name" || typeof next.value !== "string") return null;
  return { head: String(head.value), name: next.value };
}

/** Every `nodes.<id>.output.json.<field>` an expression reads: fields of a model's structured answer. */
export function answerFieldsRead(expression: string): { node: string; field: string }[] {
  const found: { node: string; field: string }[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== "object") return;
    const ast = n as Ast;
    const root = rootOf(ast);
    if (root?.head === "nodes" && Array.isArray(ast.steps)) {
      const steps = ast.steps.slice(ast.steps[0]?.type === "variable" ? 3 : 2);
      const [output, json, field] = steps;
      if (
        output?.value === "output" &&
        json?.value === "json" &&
        field?.type === "name" &&
        typeof field.value === "string"
      )
        found.push({ node: root.name, field: field.value });
    }
    for (const v of Object.values(ast)) if (v && typeof v === "object") walk(v);
  };
  walk(compile(expression).ast());
  return found;
}

/** The properties an llm node's structured answer declares (config.json_schema.properties), or null. */
function declaredAnswer(node: { kind?: string; config?: Record<string, unknown> }): string[] | null {
  if (node.kind !== "llm") return null;
  const props = (node.config?.json_schema as { properties?: unknown } | undefined)?.properties;
  return props && typeof props === "object" && !Array.isArray(props) ? Object.keys(props) : null;
}

/**
 * The optional inputs (declared, not required) an expression uses where the strict rule needs a value — as a strict
 * operand, or as the whole value of a template — outside any conditional that could guard them. Each of these fails
 * the run whenever the caller leaves the input out, so it is refused at save.
 */
export function unguardedOptionalInputs(expression: string, optional: ReadonlySet<string>, whole: boolean): string[] {
  const ast = compile(expression).ast() as Ast;
  const strict = strictOperands(ast);
  const found = new Set<string>();
  const visit = (n: unknown, guarded: boolean): void => {
    if (Array.isArray(n)) return n.forEach((v) => visit(v, guarded));
    if (!n || typeof n !== "object") return;
    const node = n as Ast;
    const root = rootOf(node);
    const used = strict.has(node) || (whole && node === ast);
    if (!guarded && used && root?.head === "input" && optional.has(root.name)) found.add(root.name);
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === "object") visit(v, guarded || (node.type === "condition" && k !== "condition"));
    }
  };
  visit(ast, false);
  return [...found];
}

/**
 * Every `nodes.<id>` must name a node upstream of the one reading it (through `needs`, directly or transitively):
 * anything else reads nothing at run time. With `inputProperties`, every `input.<name>` must be one of them.
 */
export function checkReferences(
  graph: readonly {
    id: string;
    needs: readonly string[];
    when?: string | undefined;
    kind?: string;
    config?: Record<string, unknown>;
  }[],
  sites: readonly ReferenceSite[],
  inputs: { properties: readonly string[]; optional: ReadonlySet<string> } | null,
): { path: string; message: string }[] {
  const inputProperties = inputs?.properties ?? null;
  const byId = new Map(graph.map((n) => [n.id, n]));
  const upstream = new Map<string, Set<string>>();
  const ancestors = (id: string): Set<string> => {
    let found = upstream.get(id);
    if (found) return found;
    found = new Set<string>();
    upstream.set(id, found);
    for (const need of byId.get(id)?.needs ?? []) {
      found.add(need);
      for (const a of ancestors(need)) found.add(a);
    }
    return found;
  };
  const errors: { path: string; message: string }[] = [];
  for (const site of sites) {
    const refs = referencesIn(site.expression);
    for (const id of refs.nodes) {
      if (site.node === null) {
        errors.push({
          path: site.path,
          message: `nodes.${id}: this is rendered before any node runs, so it can read only input`,
        });
      } else if (!byId.has(id)) {
        errors.push({
          path: site.path,
          message: `nodes.${id} is not a node of this workflow (nodes: ${[...byId.keys()].join(", ")})`,
        });
      } else if (id === site.node && site.readsOwnOutput) {
        continue;
      } else if (id === site.node) {
        errors.push({ path: site.path, message: `node "${site.node}" cannot read its own output (nodes.${id})` });
      } else if (!ancestors(site.node).has(id)) {
        errors.push({
          path: site.path,
          message: `nodes.${id} is not upstream of "${site.node}"; add "${id}" to needs`,
        });
      }
    }
    // A field of a model's answer that its json_schema does not declare is a typo or a rename: it reads nothing.
    for (const read of answerFieldsRead(site.expression)) {
      const target = byId.get(read.node);
      const declared = target ? declaredAnswer(target) : null;
      if (declared && !declared.includes(read.field))
        errors.push({
          path: site.path,
          message: `nodes.${read.node}.output.json.${read.field}: the answer's json_schema has no property "${read.field}" (properties: ${declared.join(", ")})`,
        });
    }
    if (inputs?.optional.size) {
      // A `when` that reads the input guards the node: it runs only when the caller's input makes it hold.
      const when = site.node === null ? undefined : byId.get(site.node)?.when;
      const guarded = new Set(when ? referencesIn(when).inputs : []);
      const isWhen = site.path === "when" || site.path.endsWith(".when");
      for (const name of unguardedOptionalInputs(site.expression, inputs.optional, !isWhen)) {
        if (guarded.has(name)) continue;
        errors.push({
          path: site.path,
          message: `input.${name} is optional in input_schema but {{ ${site.expression} }} needs a value; add it to required, or allow absence with \`input.${name} ?? default\``,
        });
      }
    }
    if (inputProperties) {
      for (const name of refs.inputs) {
        if (!inputProperties.includes(name)) {
          errors.push({
            path: site.path,
            message: `input.${name} is not a property of input_schema (properties: ${inputProperties.join(", ") || "none"})`,
          });
        }
      }
    }
  }
  return errors;
}

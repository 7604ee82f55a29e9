// Golden replay: a new definition evaluated against recorded executions, with nothing run and nothing called. Each
// node's resolved input (its `when` and its rendered config) is worked out twice over the recorded input and outputs,
// once with the definition the run had and once with the new one; a node whose resolved input differs would do
// something else on the next run. What CI runs before `workflows apply` (edgeflow test --replay).
import type { Definition, NodeDef } from "../engine/dag";
import { holds, render, type ExprContext } from "../engine/expr";
import { kindSpecs } from "../nodes";
import { secretNamesIn } from "../nodes/secrets";

export type Verdict = "unchanged" | "changed" | "broken" | "new" | "removed" | "not_run";
/** The verdicts that fail the check. */
export const FAILING: ReadonlySet<Verdict> = new Set(["changed", "broken"]);

export interface NodeVerdict {
  node_id: string;
  verdict: Verdict;
  /** What differs (JSON paths) or why it broke. */
  detail: string | null;
  before: unknown;
  after: unknown;
}

export interface Recorded {
  id: string;
  workflow_id: string;
  version: number;
  input: unknown;
  nodes: { node_id: string; status: string; output: unknown }[];
}

type Resolved = { ok: true; value: { when: boolean | null; config: unknown } } | { ok: false; error: string };

/** A node as it would be asked to run over `ctx`: whether its `when` holds, and its config with templates rendered. */
async function resolve(node: NodeDef, ctx: ExprContext): Promise<Resolved> {
  const spec = kindSpecs[node.kind];
  const raw = new Set([...(spec?.expressionFields ?? []), ...(spec?.nestedFields ?? [])]);
  // Secrets are compared by name: their values are not the definition's business, and never leave the server.
  const names = secretNamesIn(JSON.stringify(node.config));
  const scope = names.length ? { ...ctx, secrets: Object.fromEntries(names.map((n) => [n, `<secret ${n}>`])) } : ctx;
  try {
    const when = node.when === undefined ? null : await holds(node.when, scope);
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node.config))
      config[k] = raw.has(k) ? v : await render(v, scope, `config.${k}`);
    return { ok: true, value: { when, config } };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** JSON paths where two values differ (at most 20). */
export function differences(a: unknown, b: unknown, at = "", out: string[] = []): string[] {
  if (out.length >= 20) return out;
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys)
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k,
        out,
      );
  } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(at || "(root)");
  return out;
}

export async function replayCheck(before: Definition, after: Definition, run: Recorded): Promise<NodeVerdict[]> {
  const ctx: ExprContext = {
    input: run.input,
    nodes: Object.fromEntries(run.nodes.map((n) => [n.node_id, { status: n.status, output: n.output }])),
    execution: { id: run.id, workflow_id: run.workflow_id, version: run.version },
  };
  const recorded = new Map(run.nodes.map((n) => [n.node_id, n]));
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const out: NodeVerdict[] = [];
  for (const node of after.nodes) {
    const was = old.get(node.id);
    const status = recorded.get(node.id)?.status;
    const verdict = (v: Verdict, detail: string | null, b: unknown = null, a: unknown = null) =>
      out.push({ node_id: node.id, verdict: v, detail, before: b, after: a });
    if (!was) {
      verdict("new", "not in the recorded run's definition");
      continue;
    }
    if (was.kind !== node.kind) {
      verdict("changed", `kind ${was.kind} → ${node.kind}`, was.kind, node.kind);
      continue;
    }
    // A node the run never reached has no recorded inputs to compare with.
    if (status !== "succeeded" && status !== "failed") {
      verdict("not_run", `it was ${status ?? "absent"} in the recorded run`);
      continue;
    }
    const [b, a] = await Promise.all([resolve(was, ctx), resolve(node, ctx)]);
    if (!a.ok && !b.ok && a.error === b.error) {
      // The same failure either way (an output kept in R2 as a reference reads as one): nothing changed.
      verdict("unchanged", `does not resolve over the recorded outputs with either definition: ${a.error}`);
      continue;
    }
    if (!a.ok) {
      verdict("broken", b.ok ? a.error : `${a.error} (the old definition failed otherwise: ${b.error})`);
      continue;
    }
    if (!b.ok) {
      verdict("changed", `the old definition did not resolve here (${b.error})`, null, a.value);
      continue;
    }
    const paths = differences(b.value, a.value);
    if (paths.length) verdict("changed", paths.join(", "), b.value, a.value);
    else verdict("unchanged", null);
  }
  const kept = new Set(after.nodes.map((n) => n.id));
  for (const n of before.nodes)
    if (!kept.has(n.id)) out.push({ node_id: n.id, verdict: "removed", detail: null, before: null, after: null });
  return out;
}

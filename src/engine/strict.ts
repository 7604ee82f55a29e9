// The strict rule for expressions: a missing value (undefined, or JSONata's empty sequence) used where it would turn
// into a blank — a concatenation, arithmetic, a function argument, an object member — fails the evaluation instead of
// becoming "" or a dropped key. The operands in those positions are found once per compiled expression, and JSONata's
// evaluation exit hook checks each one's value as it is produced.

type Ast = { type?: string; value?: unknown; position?: number; [k: string]: unknown };

/** What a strict operand is used for, as the error names it. */
export type Construct = "concatenation" | "arithmetic" | "function argument" | "object member";

export interface StrictOperand {
  construct: Construct;
  /** The operand as source text, as far as it can be printed back. */
  text: string;
}

/**
 * Functions whose documented contract covers an empty sequence (`$count` of nothing is 0, `$exists` of nothing is
 * false); a missing argument is how they are meant to be used. Every other function's arguments are strict.
 */
export const ABSENCE_FUNCTIONS: ReadonlySet<string> = new Set([
  "exists",
  "type",
  "boolean",
  "not",
  "count",
  "sum",
  "max",
  "min",
  "average",
  "append",
  "distinct",
  "reverse",
  "sort",
  "map",
  "filter",
  "reduce",
]);

const ARITHMETIC = new Set(["+", "-", "*", "/", "%"]);

/** Every operand of `ast` in a strict position, keyed by its AST node (JSONata hands the same objects to the hook). */
export function strictOperands(ast: unknown): Map<object, StrictOperand> {
  const found = new Map<object, StrictOperand>();
  const mark = (operand: unknown, construct: Construct) => {
    if (operand && typeof operand === "object") found.set(operand, { construct, text: print(operand as Ast) });
  };
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== "object") return;
    const node = n as Ast;
    if (node.type === "binary" && node.value === "&") {
      mark(node.lhs, "concatenation");
      mark(node.rhs, "concatenation");
    } else if (node.type === "binary" && ARITHMETIC.has(node.value as string)) {
      mark(node.lhs, "arithmetic");
      mark(node.rhs, "arithmetic");
    } else if (node.type === "unary" && node.value === "-") {
      mark(node.expression, "arithmetic");
    } else if (node.type === "function" && !ABSENCE_FUNCTIONS.has(procedureName(node))) {
      for (const arg of (node.arguments as unknown[]) ?? []) mark(arg, "function argument");
    } else if (node.type === "apply" && (node.rhs as Ast)?.type === "function") {
      if (!ABSENCE_FUNCTIONS.has(procedureName(node.rhs as Ast))) mark(node.lhs, "function argument");
    }
    // `{ "k": v }` and a group-by `path{ k: v }` drop a key whose value is missing.
    const pairs = node.type === "unary" && node.value === "{" ? node.lhs : (node.group as Ast | undefined)?.lhs;
    if (Array.isArray(pairs)) for (const pair of pairs) if (Array.isArray(pair)) mark(pair[1], "object member");
    for (const v of Object.values(node)) if (v && typeof v === "object") walk(v);
  };
  walk(ast);
  return found;
}

/** JSONata's "no value": undefined, or a sequence that matched nothing (collapsed to undefined after the hook). */
export function isMissing(value: unknown): boolean {
  return (
    value === undefined ||
    (Array.isArray(value) && (value as { sequence?: boolean }).sequence === true && value.length === 0)
  );
}

function procedureName(fn: Ast): string {
  const p = fn.procedure as Ast | undefined;
  return p?.type === "variable" && typeof p.value === "string" ? p.value : "";
}

/** Source text for the operands people write (paths, variables, calls, literals); anything else by its position. */
export function print(n: Ast): string {
  switch (n.type) {
    case "path":
      return ((n.steps as Ast[]) ?? []).map(print).join(".");
    case "name":
      return withPredicates(n, String(n.value));
    case "variable":
      return withPredicates(n, `$${String(n.value)}`);
    case "string":
      return JSON.stringify(n.value);
    case "number":
    case "value":
      return String(n.value);
    case "function":
      return `${print(n.procedure as Ast)}(${((n.arguments as Ast[]) ?? []).map(print).join(", ")})`;
    case "binary":
      return `${print(n.lhs as Ast)} ${String(n.value)} ${print(n.rhs as Ast)}`;
    case "block":
      return `(${((n.expressions as Ast[]) ?? []).map(print).join("; ")})`;
    default:
      return n.position !== undefined ? `the expression ending at position ${n.position}` : "an expression";
  }
}

function withPredicates(n: Ast, text: string): string {
  const stages = (n.stages ?? n.predicate) as unknown[] | undefined;
  return Array.isArray(stages) && stages.length ? `${text}[…]` : text;
}

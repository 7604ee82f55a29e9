// Expressions (JSONata) and `{{ expr }}` templates: parsed at definition time, evaluated by the ExecutionObject.
import jsonata from "jsonata";
import { isMissing, strictOperands, type StrictOperand } from "./strict";

type Compiled = ReturnType<typeof jsonata>;

/** The data an expression sees: `input`, `nodes.<id>.output` / `.status`, and `execution.id`. */
export interface ExprContext {
  input: unknown;
  nodes: Record<string, { status: string; output: unknown }>;
  execution: { id: string; workflow_id: string; version: number };
  /** Inside a map node's item: the item and its index in the items array. */
  item?: unknown;
  index?: number;
  /** Present only while rendering the templated config of a node that names secrets. */
  secrets?: Record<string, string>;
}

export class ExpressionError extends Error {
  override readonly name = "ExpressionError";
  constructor(
    readonly expression: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A template (or bare expression) whose value is undefined, or that uses a missing value where it would become a
 * blank (see strict.ts): the data it reads is not there. Rendering it as "" or null would let the run succeed with
 * wrong data, so it fails the attempt instead. `path` is within the value rendered.
 */
export class UndefinedValueError extends Error {
  override readonly name = "UndefinedValueError";
  constructor(
    readonly path: string,
    readonly expression: string,
    readonly operand?: StrictOperand,
  ) {
    const where = path ? `${path}: ` : "";
    super(
      operand
        ? `${where}${operand.text} has no value, used ${USE[operand.construct]} in {{ ${expression} }} (to allow absence, write \`${operand.text} ?? default\` or test it with $exists)`
        : `${where}{{ ${expression} }} has no value (for a default, write \`x ?? default\`)`,
    );
  }

  at(path: string): UndefinedValueError {
    return new UndefinedValueError(path, this.expression, this.operand);
  }
}

/** Thrown from inside JSONata's evaluation when a strict operand is missing; evaluate() names the expression. */
class MissingOperand extends Error {
  constructor(readonly operand: StrictOperand) {
    super(`${operand.text} has no value`);
  }
}

const USE: Record<StrictOperand["construct"], string> = {
  concatenation: "in a concatenation",
  arithmetic: "in arithmetic",
  "function argument": "as a function argument",
  "object member": "as an object member",
};

const EXIT_HOOK = Symbol.for("jsonata.__evaluate_exit");
const ENTRY_HOOK = Symbol.for("jsonata.__evaluate_entry");
/** The per-evaluation step count, bound into each evaluation's own frame (the compiled expression is shared). */
const STEPS = "__edgeflow_steps";

/** How deep one evaluation may nest (calls within calls): far past any real expression, short of a runaway one. */
export const MAX_EVALUATION_DEPTH = 10_000;
/**
 * How many steps (expression nodes evaluated) one evaluation may take. A tail recursion that never ends runs at
 * constant depth, and the attempt's timeout cannot stop it (JSONata never yields to a timer, and the Worker's clock
 * stands still during CPU work), so it is counted. A transform over 50,000 items takes about a million.
 */
export const MAX_EVALUATION_STEPS = 5_000_000;

class RunawayExpression extends Error {}

const LAMBDA = /\bfunction\s*\(|λ/;
const counted = new WeakSet<Compiled>();

/** Count the evaluation's steps; past the limit, stop it. */
function countStep(_node: unknown, _input: unknown, env: { lookup(name: string): unknown }): void {
  const steps = env.lookup(STEPS) as { n: number } | undefined;
  if (steps && ++steps.n > MAX_EVALUATION_STEPS) throw new RunawayExpression();
}

// Compiled JSONata is immutable and safe to share; the cache bounds memory for long-lived isolates.
const cache = new Map<string, Compiled>();
const CACHE_LIMIT = 2000;

export function compile(expression: string): Compiled {
  let compiled = cache.get(expression);
  if (compiled) return compiled;
  try {
    // A recursion that never ends fails the attempt at this depth instead of holding the object: the attempt timeout
    // cannot stop it (JSONata's evaluation never yields to a timer) and the Worker's clock stands still meanwhile.
    compiled = jsonata(expression, { stack: MAX_EVALUATION_DEPTH });
  } catch (err) {
    throw new ExpressionError(expression, describe(err));
  }
  // The hook is bound once per compiled expression and keeps no state, so sharing the cached expression is safe.
  const strict = strictOperands(compiled.ast());
  if (strict.size)
    compiled.assign(EXIT_HOOK as unknown as string, (node: object, _input: unknown, _env: unknown, result: unknown) => {
      const operand = strict.get(node);
      if (operand && isMissing(result)) throw new MissingOperand(operand);
    });
  // Only a function of the expression's own can recur; without one, evaluation ends with the data, so the count
  // (a call per step) is spared.
  if (LAMBDA.test(expression)) {
    compiled.assign(ENTRY_HOOK as unknown as string, countStep);
    counted.add(compiled);
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(expression, compiled);
  return compiled;
}

export async function evaluate(expression: string, ctx: ExprContext): Promise<unknown> {
  const compiled = compile(expression);
  try {
    return normalise(await compiled.evaluate(ctx, counted.has(compiled) ? { [STEPS]: { n: 0 } } : undefined));
  } catch (err) {
    if (err instanceof MissingOperand) throw new UndefinedValueError("", expression, err.operand);
    if (err instanceof RunawayExpression)
      throw new ExpressionError(
        expression,
        `the expression took more than ${MAX_EVALUATION_STEPS} steps without ending (a recursion that never stops?)`,
      );
    throw new ExpressionError(expression, describe(err));
  }
}

/** A `when` condition holds when its value is truthy in JSONata's sense; undefined (no match) is false. */
export async function holds(expression: string, ctx: ExprContext | unknown): Promise<boolean> {
  const value = await evaluate(expression, ctx as ExprContext);
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

const TEMPLATE = /\{\{([\s\S]+?)\}\}/g;
// One template and nothing else: "{{ a }}/x/{{ b }}" also starts with {{ and ends with }}, so the inside may not hold
// either.
const WHOLE_TEMPLATE = /^\{\{((?:(?!\{\{|\}\})[\s\S])+)\}\}$/;

/** Every template expression inside `value`, with its JSON path, for up-front parsing. */
export function templatesIn(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; expression: string }[] {
  if (typeof value === "string") {
    return [...value.matchAll(TEMPLATE)].map((m) => ({ path, expression: (m[1] as string).trim() }));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => templatesIn(v, [...path, i]));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => templatesIn(v, [...path, k]));
  }
  return [];
}

/**
 * Render templates inside strings of `value`. A string that is one whole template keeps the expression's type (an
 * object stays an object); templates inside longer strings are stringified (null as ""). A template whose value is
 * undefined throws UndefinedValueError naming its path under `at`.
 */
export async function render(value: unknown, ctx: ExprContext, at = ""): Promise<unknown> {
  if (typeof value === "string") {
    if (!value.includes("{{")) return value;
    const defined = async (expression: string) => {
      const v = await evaluate(expression, ctx).catch((err: unknown) => {
        throw err instanceof UndefinedValueError ? err.at(at) : err;
      });
      if (v === undefined) throw new UndefinedValueError(at, expression);
      return v;
    };
    const whole = WHOLE_TEMPLATE.exec(value);
    if (whole) return defined((whole[1] as string).trim());
    let out = "";
    let last = 0;
    for (const m of value.matchAll(TEMPLATE)) {
      out += value.slice(last, m.index) + stringify(await defined((m[1] as string).trim()));
      last = (m.index ?? 0) + m[0].length;
    }
    return out + value.slice(last);
  }
  if (Array.isArray(value)) return Promise.all(value.map((v, i) => render(v, ctx, `${at}[${i}]`)));
  if (value && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await render(v, ctx, at ? `${at}.${k}` : k)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

function stringify(v: unknown): string {
  if (v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

// JSONata returns sequences with extra marker properties; a JSON round trip makes outputs plain data.
function normalise(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

function describe(err: unknown): string {
  if (err && typeof err === "object" && "message" in err) {
    const e = err as { message: string; position?: number; code?: string };
    return e.position !== undefined ? `${e.message} (at position ${e.position})` : e.message;
  }
  return String(err);
}

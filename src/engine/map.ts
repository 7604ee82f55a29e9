// The `map` node kind: its config, validation, and the pure decisions over per-item states (what the outcome is,
// what the output looks like). The ExecutionObject's map runner (src/durable/map-run.ts) performs them.
import { ITEM_STATUSES, type ItemStatus } from "./events";
import { z } from "zod";
import { checkNode, formatPath, type FieldError, type NodeDef, type NodeKindSpec } from "./dag";
import type { AttemptError } from "./retry";
import { retryPolicySchema } from "./retry";

/** Items one map node may have; each is a row in the execution's storage, so this bounds its size. */
export const MAX_MAP_ITEMS = 50_000;
/** The assembled output is built in memory, then stored like any node output (R2 past the inline size): past this it is refused. */
export const MAX_MAP_OUTPUT_BYTES = 16_000_000;
/** Kinds an item cannot be: a map of maps, and kinds that park the node on timers or named events. */
const NOT_AN_ITEM_KIND = new Set(["map", "sleep", "wait_for_event", "approval"]);

const templateSchema = z
  .object({
    kind: z.string().min(1).max(64),
    config: z.record(z.string(), z.unknown()).default({}),
    retry: retryPolicySchema.optional(),
    timeout_ms: z.number().int().min(1).max(900_000).optional(),
  })
  .strict();

export const mapConfigSchema = z
  .object({
    /** A bare expression yielding the array to map over; each item's node sees `item` and `index`. */
    items: z.string().min(1).max(4096),
    /** The node run once per item; a `workflow` node runs a sub-definition as one child execution per item. */
    node: templateSchema,
    max_concurrency: z.number().int().min(1).max(100).default(10),
    /** Item failures the node accepts and still succeeds; one more and it stops starting items and fails. */
    tolerated_failures: z.number().int().min(0).max(MAX_MAP_ITEMS).default(0),
  })
  .strict();
export type MapConfig = z.output<typeof mapConfigSchema>;

export const mapSpec: NodeKindSpec = {
  config: mapConfigSchema,
  expressionFields: ["items"],
  nestedFields: ["node"],
  check(node, at, kinds): FieldError[] {
    const c = node.config as MapConfig;
    const errors: FieldError[] = [];
    // A map node's own retry and timeout would be ambiguous next to its items': items retry and time out individually.
    if (node.retry)
      errors.push({
        path: formatPath([...at, "retry"]),
        message: "a map node does not retry as a whole; set retry on config.node (per item)",
      });
    if (node.timeout_ms)
      errors.push({
        path: formatPath([...at, "timeout_ms"]),
        message: "a map node has no attempt timeout; set timeout_ms on config.node (per item)",
      });
    if (NOT_AN_ITEM_KIND.has(c.node.kind)) {
      errors.push({
        path: formatPath([...at, "config", "node", "kind"]),
        message: `a map item cannot be a "${c.node.kind}" node`,
      });
      return errors;
    }
    return [...errors, ...checkNode(c.node, [...at, "config", "node"], kinds)];
  },
};

/** The node definition each item runs as: the template under the map node's id. */
export function itemNode(node: NodeDef, c: MapConfig): NodeDef {
  return {
    id: node.id,
    kind: c.node.kind,
    config: c.node.config,
    needs: [],
    on_skipped_need: "skip",
    continue_on_failure: false,
    ...(c.node.retry ? { retry: c.node.retry } : {}),
    ...(c.node.timeout_ms ? { timeout_ms: c.node.timeout_ms } : {}),
  };
}

export { ITEM_STATUSES, type ItemStatus };
export type ItemCounts = Record<ItemStatus, number> & { total: number };

export function emptyCounts(): ItemCounts {
  return { total: 0, pending: 0, running: 0, retrying: 0, waiting: 0, succeeded: 0, failed: 0, cancelled: 0 };
}

export function openItems(c: ItemCounts): number {
  return c.pending + c.running + c.retrying + c.waiting;
}

export interface FinishedItem {
  index: number;
  status: ItemStatus;
  output: unknown;
  error_code: string | null;
  error_message: string | null;
}

/**
 * The map node's result once no item is open: outputs in input order (null where an item failed), the failures
 * with their index, and the counts. More failures than tolerated, or an output too large to keep, fail the node.
 */
export function mapResult(
  items: readonly FinishedItem[],
  tolerated: number,
): { ok: true; output: unknown } | { ok: false; error: AttemptError } {
  const failures = items
    .filter((i) => i.status === "failed")
    .map((i) => ({ index: i.index, code: i.error_code ?? "failed", message: i.error_message ?? "" }));
  const cancelled = items.filter((i) => i.status === "cancelled").length;
  if (failures.length > tolerated || cancelled > 0)
    return { ok: false, error: failedError(failures, cancelled, items.length, tolerated) };
  const output = {
    results: items.map((i) => (i.status === "succeeded" ? (i.output ?? null) : null)),
    failures,
    total: items.length,
    succeeded: items.length - failures.length,
    failed: failures.length,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(output)).length;
  if (bytes > MAX_MAP_OUTPUT_BYTES) {
    return {
      ok: false,
      error: {
        code: "map_output_too_large",
        message: `the collected outputs are ${bytes} bytes (limit ${MAX_MAP_OUTPUT_BYTES}); read them per item from GET /v1/executions/:id/nodes/:node_id/items`,
        retryable: false,
      },
    };
  }
  return { ok: true, output };
}

function failedError(
  failures: { index: number; code: string; message: string }[],
  cancelled: number,
  total: number,
  tolerated: number,
): AttemptError {
  const first = failures
    .slice(0, 3)
    .map((f) => `[${f.index}] ${f.code}: ${f.message.slice(0, 200)}`)
    .join("; ");
  const notRun = cancelled ? `, ${cancelled} not run` : "";
  return {
    code: "map_items_failed",
    message: `${failures.length} of ${total} items failed (tolerated ${tolerated})${notRun}${first ? `; first: ${first}` : ""}`,
    retryable: false,
  };
}

/** Check the evaluated `items` expression: an array within the size limit, or why not. */
export function checkItems(value: unknown): { ok: true; items: unknown[] } | { ok: false; error: AttemptError } {
  const items = value === undefined || value === null ? [] : value;
  if (!Array.isArray(items))
    return {
      ok: false,
      error: {
        code: "map_items_not_array",
        message: `items evaluated to ${typeof items}, not an array`,
        retryable: false,
      },
    };
  if (items.length > MAX_MAP_ITEMS)
    return {
      ok: false,
      error: {
        code: "map_too_many_items",
        message: `items has ${items.length} entries (limit ${MAX_MAP_ITEMS})`,
        retryable: false,
      },
    };
  return { ok: true, items };
}

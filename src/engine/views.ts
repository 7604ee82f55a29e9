// The wire shape of an execution and its node runs, as GET /v1/executions/:id answers it: one zod declaration that
// is the server's type (src/durable/view.ts builds it), the OpenAPI document's schema (and so what every test
// response is checked against), and the dashboard's type. Nullable fields are null when unset, never missing.
import { z } from "zod";
import { EXECUTION_STATUSES, ITEM_STATUSES, NODE_STATUSES } from "./events";

const time = z.string().describe("ISO 8601");
const nullableTime = time.nullable();
export const errorView = z.object({ code: z.string(), message: z.string() }).nullable();
const any = z.unknown();

export const itemCounts = z.object(
  Object.fromEntries([...ITEM_STATUSES, "total"].map((s) => [s, z.number().int()])) as Record<string, z.ZodNumber>,
);

export const nodeView = z.object({
  node_id: z.string(),
  kind: z.string(),
  status: z.enum(NODE_STATUSES),
  attempts: z.number().int(),
  started_at: nullableTime,
  finished_at: nullableTime,
  next_attempt_at: nullableTime,
  waiting_for: z.object({ event: z.string().nullable(), until: nullableTime }).nullable(),
  error: errorView,
  output: any,
  child: z.object({ execution_id: z.string() }).nullable(),
  items: itemCounts.optional().describe("A map node's items by status."),
  kept_from: z
    .string()
    .optional()
    .describe("In a fork: the execution whose output this node keeps (it did not run in this one)."),
});

export const executionView = z.object({
  id: z.string(),
  tenant_id: z.string(),
  workflow_id: z.string(),
  version: z.number().int(),
  status: z.enum(EXECUTION_STATUSES),
  input: any,
  output: any,
  error: errorView,
  created_at: time,
  started_at: nullableTime,
  finished_at: nullableTime,
  deadline_at: time,
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.string()),
  usage: z.object({
    llm_calls: z.number().int(),
    input_tokens: z.number().int(),
    output_tokens: z.number().int(),
    cost_usd: z.number(),
  }),
  parent: z.object({ execution_id: z.string(), node_id: z.string() }).nullable(),
  /** The execution this one was forked from, at which node, with side effects mocked or allowed; null otherwise. */
  fork: z
    .object({
      from_execution_id: z.string(),
      from_node: z.string(),
      effects: z.enum(["mock", "allow"]),
      label: z.string().nullable(),
    })
    .nullable(),
  /** An approval node waits for people to decide (GET /v1/approvals?execution_id= lists what they are asked). */
  waiting_for_approval: z.boolean(),
  nodes: z.array(nodeView),
});

export type NodeView = z.output<typeof nodeView>;
export type ExecutionView = z.output<typeof executionView>;

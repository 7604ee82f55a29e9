// The API's wire shapes the dashboard reads (snake_case, ISO 8601 times), as GET /v1/executions/:id returns them.

// The status lists are the engine's own (a pure module), so the dashboard cannot drift from the API's names.
import { EXECUTION_STATUSES, NODE_STATUSES, type ExecutionStatus, type NodeStatus } from "../../../src/engine/events";

export { EXECUTION_STATUSES, NODE_STATUSES, type ExecutionStatus, type NodeStatus };
export const FINISHED: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export interface Problem {
  code: string;
  message: string;
}

export interface EventEnvelope {
  seq: number;
  type: string;
  execution_id: string;
  node_id?: string;
  attempt?: number;
  at: string;
  data: Record<string, unknown>;
}

export interface DefinitionNode {
  id: string;
  kind: string;
  needs?: string[];
  config: Record<string, unknown>;
  retry?: Record<string, unknown>;
  timeout_seconds?: number;
  [more: string]: unknown;
}

export interface Definition {
  name: string;
  description?: string;
  input_schema?: JsonSchema;
  nodes: DefinitionNode[];
  [more: string]: unknown;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  title?: string;
  [more: string]: unknown;
}

export interface NodeView {
  node_id: string;
  kind: string;
  status: NodeStatus;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  next_attempt_at: string | null;
  waiting_for: { event: string | null; until: string | null } | null;
  error: Problem | null;
  output: unknown;
  child: { execution_id: string } | null;
  items?: Record<string, number>;
}

export interface ExecutionView {
  id: string;
  workflow_id: string;
  version: number;
  status: ExecutionStatus;
  input: unknown;
  output: unknown;
  error: Problem | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  deadline_at: string;
  tags: string[];
  metadata: Record<string, string>;
  usage: { llm_calls: number; input_tokens: number; output_tokens: number; cost_usd: number };
  parent: { execution_id: string; node_id: string } | null;
  nodes: NodeView[];
}

export interface ExecutionRow {
  id: string;
  workflow_id: string;
  version: number;
  status: ExecutionStatus;
  error: Problem | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

export interface WorkflowRow {
  id: string;
  name: string;
  description: string | null;
  latest_version: number;
  created_at: string;
  updated_at: string;
  execution_count?: number;
  last_execution?: { id: string; status: string; created_at: string } | null;
}

export interface WorkflowView extends WorkflowRow {
  version: number;
  definition: Definition;
}

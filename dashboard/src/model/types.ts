// The API's wire shapes the dashboard reads (snake_case, ISO 8601 times), as GET /v1/executions/:id returns them.

// The status lists are the engine's own (a pure module), so the dashboard cannot drift from the API's names.
import { EXECUTION_STATUSES, NODE_STATUSES, type ExecutionStatus, type NodeStatus } from "../../../src/engine/events";

export { EXECUTION_STATUSES, NODE_STATUSES, type ExecutionStatus, type NodeStatus };
// The execution view and the event envelope are the server's own declarations (types only: nothing is bundled).
export type { EventEnvelope } from "../../../src/engine/events";
export type { ExecutionView, NodeView } from "../../../src/engine/views";
export const FINISHED: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export interface Problem {
  code: string;
  message: string;
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

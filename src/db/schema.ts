// The single source of the D1 schema; `npm run db:generate` turns changes into migrations/.
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  created_at: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull().references(() => tenants.id),
    /** The visible part of the key, used to find the row; the secret part is only stored hashed. */
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull(),
    name: text("name").notNull(),
    created_at: integer("created_at").notNull(),
    revoked_at: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_prefix").on(t.prefix), index("api_keys_tenant").on(t.tenant_id)],
);

export const workflows = sqliteTable(
  "workflows",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull().references(() => tenants.id),
    name: text("name").notNull(),
    description: text("description"),
    latest_version: integer("latest_version").notNull(),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
    deleted_at: integer("deleted_at"),
  },
  (t) => [index("workflows_tenant_created").on(t.tenant_id, t.created_at, t.id)],
);

export const workflowVersions = sqliteTable(
  "workflow_versions",
  {
    workflow_id: text("workflow_id").notNull().references(() => workflows.id),
    version: integer("version").notNull(),
    definition: text("definition", { mode: "json" }).notNull(),
    created_at: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workflow_id, t.version] })],
);

/** The queryable projection of each ExecutionObject; only the DO's outbox writes it. */
export const executions = sqliteTable(
  "executions",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    version: integer("version").notNull(),
    status: text("status").notNull(),
    input: text("input", { mode: "json" }),
    output: text("output", { mode: "json" }),
    error_code: text("error_code"),
    error_message: text("error_message"),
    created_at: integer("created_at").notNull(),
    started_at: integer("started_at"),
    finished_at: integer("finished_at"),
    deadline_at: integer("deadline_at").notNull(),
    /** The DO's event seq when this row was written; older writes never overwrite newer ones. */
    seq: integer("seq").notNull(),
    projected_at: integer("projected_at").notNull(),
  },
  (t) => [
    index("executions_tenant_created").on(t.tenant_id, t.created_at, t.id),
    index("executions_tenant_workflow_created").on(t.tenant_id, t.workflow_id, t.created_at, t.id),
    index("executions_tenant_status_created").on(t.tenant_id, t.status, t.created_at, t.id),
    index("executions_workflow_created").on(t.workflow_id, t.created_at, t.id),
  ],
);

export const nodeRuns = sqliteTable(
  "node_runs",
  {
    execution_id: text("execution_id").notNull(),
    node_id: text("node_id").notNull(),
    kind: text("kind").notNull(),
    status: text("status").notNull(),
    attempt: integer("attempt").notNull(),
    started_at: integer("started_at"),
    finished_at: integer("finished_at"),
    error_code: text("error_code"),
    error_message: text("error_message"),
    output: text("output", { mode: "json" }),
    seq: integer("seq").notNull(),
  },
  (t) => [primaryKey({ columns: [t.execution_id, t.node_id] })],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    tenant_id: text("tenant_id").notNull(),
    key: text("key").notNull(),
    request_hash: text("request_hash").notNull(),
    execution_id: text("execution_id").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant_id, t.key] })],
);

// The single source of the D1 schema; `npm run db:generate` turns changes into migrations/.
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  created_at: integer("created_at").notNull(),
  /**
   * Where this tenant's execution history lives: -1 the main database, i the DB_HISTORY_<i> binding. Set when the
   * tenant is created and never changed, so its history never moves (src/db/shards.ts).
   */
  history_shard: integer("history_shard").notNull().default(-1),
  /**
   * Its share of a provider window against other tenants waiting for the same model (src/engine/provider-limit.ts):
   * 1 unless an operator set another (`npm run keys -- weight <tenant> <n>`).
   */
  weight: integer("weight").notNull().default(1),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    /** The visible part of the key, used to find the row; the secret part is only stored hashed. */
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull(),
    name: text("name").notNull(),
    created_at: integer("created_at").notNull(),
    revoked_at: integer("revoked_at"),
    /** Overrides RATE_LIMIT_PER_MINUTE for this key; null = the default. */
    rate_limit_per_minute: integer("rate_limit_per_minute"),
    /** Comma-separated: `read` (GET, streams, stream tickets) and/or `write` (everything that changes state). */
    scopes: text("scopes").notNull().default("read,write"),
    /** Written at most once an hour per key (auth reads the row anyway), so a request costs no extra D1 write. */
    last_used_at: integer("last_used_at"),
  },
  (t) => [uniqueIndex("api_keys_prefix").on(t.prefix), index("api_keys_tenant").on(t.tenant_id)],
);

export const workflows = sqliteTable(
  "workflows",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
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
    workflow_id: text("workflow_id")
      .notNull()
      .references(() => workflows.id),
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
    /** When the DO said it would act next (its alarm); a running execution well past it has lost its alarm. */
    wake_at: integer("wake_at"),
    /** Set for a child started by a `workflow` node. */
    parent_execution_id: text("parent_execution_id"),
    parent_node_id: text("parent_node_id"),
    /** Set when the definition has `retention_days`: retention deletes the run after this; null = RETENTION_DAYS. */
    retain_until: integer("retain_until"),
  },
  (t) => [
    index("executions_tenant_created").on(t.tenant_id, t.created_at, t.id),
    index("executions_tenant_workflow_created").on(t.tenant_id, t.workflow_id, t.created_at, t.id),
    index("executions_tenant_workflow_version_created").on(t.tenant_id, t.workflow_id, t.version, t.created_at, t.id),
    index("executions_tenant_status_created").on(t.tenant_id, t.status, t.created_at, t.id),
    index("executions_workflow_created").on(t.workflow_id, t.created_at, t.id),
    // The watchdog's scan (unfinished runs by projection age) and retention's (finished runs by age).
    index("executions_status_projected").on(t.status, t.projected_at),
    index("executions_status_wake").on(t.status, t.wake_at),
    index("executions_finished").on(t.finished_at),
    // Retention: `retain_until IS NULL AND finished_at < ?` and `retain_until < ?` both walk this one index.
    index("executions_retention").on(t.retain_until, t.finished_at),
    index("executions_parent").on(t.parent_execution_id),
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
    /** When the request that claimed the key had its execution started; null while it is in flight. */
    completed_at: integer("completed_at"),
  },
  // By execution: erasing an execution erases the keys (and request hashes) that point at it.
  (t) => [primaryKey({ columns: [t.tenant_id, t.key] }), index("idempotency_keys_execution").on(t.execution_id)],
);

export const schedules = sqliteTable(
  "schedules",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    input: text("input", { mode: "json" }),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    /**
     * Why the engine switched the schedule off (its workflow was deleted); null when enabled or switched off by hand.
     */
    disabled_reason: text("disabled_reason"),
    overlap: text("overlap").notNull(),
    next_run_at: integer("next_run_at"),
    last_run_at: integer("last_run_at"),
    last_execution_id: text("last_execution_id"),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
  },
  (t) => [
    index("schedules_due").on(t.enabled, t.next_run_at),
    index("schedules_tenant_workflow").on(t.tenant_id, t.workflow_id, t.created_at),
  ],
);

/** One row per due time of a schedule: started (with its execution) or skipped (with why). */
export const scheduleRuns = sqliteTable(
  "schedule_runs",
  {
    schedule_id: text("schedule_id").notNull(),
    scheduled_at: integer("scheduled_at").notNull(),
    status: text("status").notNull(),
    execution_id: text("execution_id"),
    reason: text("reason"),
    created_at: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.schedule_id, t.scheduled_at] }), index("schedule_runs_created").on(t.created_at)],
);

export const monitors = sqliteTable(
  "monitors",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    name: text("name").notNull(),
    check: text("check", { mode: "json" }).notNull(),
    interval_seconds: integer("interval_seconds").notNull(),
    failure_threshold: integer("failure_threshold").notNull(),
    recovery_threshold: integer("recovery_threshold").notNull(),
    alert: text("alert", { mode: "json" }).notNull(),
    /** Standard Webhooks signing secret (whsec_…) sealed with SECRETS_KEY ("sealed:<iv>:<ciphertext>"), shown once. */
    secret: text("secret").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    status: text("status").notNull(),
    consecutive_failures: integer("consecutive_failures").notNull(),
    consecutive_successes: integer("consecutive_successes").notNull(),
    /** Checks in a row that could not see (blocked, rate-limited, unreachable): they count towards `unreachable`. */
    consecutive_unreachable: integer("consecutive_unreachable").notNull().default(0),
    unreachable_threshold: integer("unreachable_threshold").notNull().default(3),
    next_check_at: integer("next_check_at").notNull(),
    /** Lease while a check runs, so checks of one monitor never overlap. */
    checking_until: integer("checking_until"),
    last_checked_at: integer("last_checked_at"),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
    /** No checks after this; retention deletes the monitor then. Null: no end. */
    expires_at: integer("expires_at"),
    /**
     * Hash of the canonical check, so a second monitor of one tenant on the same check is refused (409) unless it
     * asked for a duplicate (then null, as for monitors made before the rule).
     */
    check_hash: text("check_hash"),
    /**
     * The run of alert.acknowledge's workflow for the current problem (down or unreachable), until the monitor is up
     * again: one per problem, and cancelled by the recovery, so nobody is asked to acknowledge what is over.
     */
    ack_execution_id: text("ack_execution_id"),
  },
  (t) => [
    index("monitors_due").on(t.enabled, t.next_check_at),
    index("monitors_tenant_created").on(t.tenant_id, t.created_at, t.id),
    uniqueIndex("monitors_tenant_check").on(t.tenant_id, t.check_hash),
    index("monitors_expiry").on(t.expires_at),
  ],
);

export const monitorChecks = sqliteTable(
  "monitor_checks",
  {
    id: text("id").primaryKey(),
    monitor_id: text("monitor_id").notNull(),
    at: integer("at").notNull(),
    ok: integer("ok", { mode: "boolean" }).notNull(),
    /** up, gone or unreachable (null for checks recorded before the distinction). */
    outcome: text("outcome"),
    latency_ms: integer("latency_ms").notNull(),
    error: text("error"),
  },
  (t) => [index("monitor_checks_monitor_at").on(t.monitor_id, t.at), index("monitor_checks_at").on(t.at)],
);

export const alerts = sqliteTable(
  "alerts",
  {
    id: text("id").primaryKey(),
    monitor_id: text("monitor_id").notNull(),
    kind: text("kind").notNull(),
    /** Where this copy goes: the monitor's webhook or its email recipients (one row each, delivered separately). */
    channel: text("channel", { enum: ["webhook", "email"] })
      .notNull()
      .default("webhook"),
    payload: text("payload", { mode: "json" }).notNull(),
    created_at: integer("created_at").notNull(),
    /** First delivery attempt; the cooldown is measured from it. */
    sent_at: integer("sent_at"),
    attempts: integer("attempts").notNull(),
    delivered_at: integer("delivered_at"),
    next_attempt_at: integer("next_attempt_at"),
    last_error: text("last_error"),
  },
  (t) => [
    index("alerts_pending").on(t.delivered_at, t.next_attempt_at),
    index("alerts_monitor_created").on(t.monitor_id, t.created_at),
  ],
);

/** Per-tenant monthly LLM budget in USD; no row or null = unlimited, 0 = no LLM calls. */
export const budgets = sqliteTable("budgets", {
  tenant_id: text("tenant_id").primaryKey(),
  monthly_usd: real("monthly_usd"),
  updated_at: integer("updated_at").notNull(),
});

/** One row per LLM call attempt (retried attempts cost money too), projected from each ExecutionObject. */
export const llmUsage = sqliteTable(
  "llm_usage",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    execution_id: text("execution_id").notNull(),
    node_id: text("node_id").notNull(),
    attempt: integer("attempt").notNull(),
    provider: text("provider").notNull(),
    model: text("model").notNull(),
    /** UTC month, YYYY-MM. */
    month: text("month").notNull(),
    input_tokens: integer("input_tokens").notNull(),
    output_tokens: integer("output_tokens").notNull(),
    cost_usd: real("cost_usd").notNull(),
    /** "provider" when the provider reported the cost, "price_table" when computed from MODEL_PRICES, "unknown". */
    cost_source: text("cost_source").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("llm_usage_tenant_month").on(t.tenant_id, t.month)],
);

/** Tenant secrets, AES-GCM encrypted with SECRETS_KEY; (tenant_id, name) is bound in as associated data. */
export const secrets = sqliteTable(
  "secrets",
  {
    tenant_id: text("tenant_id").notNull(),
    name: text("name").notNull(),
    ciphertext: text("ciphertext").notNull(),
    iv: text("iv").notNull(),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant_id, t.name] })],
);

/**
 * OAuth2 connections (client credentials or a refresh token) that http nodes and monitor checks name. Secrets are
 * sealed like tenant secrets; the access token lives only in the connection's Durable Object.
 */
export const connections = sqliteTable(
  "connections",
  {
    tenant_id: text("tenant_id").notNull(),
    name: text("name").notNull(),
    grant: text("grant", { enum: ["client_credentials", "refresh_token"] }).notNull(),
    token_url: text("token_url").notNull(),
    client_id: text("client_id").notNull(),
    auth_method: text("auth_method", { enum: ["client_secret_basic", "client_secret_post"] }).notNull(),
    scope: text("scope"),
    audience: text("audience"),
    /** The sealed client secret and refresh token ("iv:ciphertext"). */
    client_secret: text("client_secret").notNull(),
    refresh_token: text("refresh_token"),
    created_at: integer("created_at").notNull(),
    /** Also the config's version: the object drops a token obtained under an older one. */
    updated_at: integer("updated_at").notNull(),
    /** The last token request's failure (null once one succeeds), for the node error, GET and /health. */
    last_error: text("last_error"),
    last_token_at: integer("last_token_at"),
  },
  (t) => [primaryKey({ columns: [t.tenant_id, t.name] }), index("connections_failing").on(t.last_error)],
);

/** Browser origins a tenant allows to call the API (CORS). */
export const tenantOrigins = sqliteTable(
  "tenant_origins",
  {
    tenant_id: text("tenant_id").notNull(),
    origin: text("origin").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant_id, t.origin] }), index("tenant_origins_origin").on(t.origin)],
);

/** Tags given when an execution started, for index-backed search. */
export const executionTags = sqliteTable(
  "execution_tags",
  {
    tenant_id: text("tenant_id").notNull(),
    tag: text("tag").notNull(),
    execution_id: text("execution_id").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenant_id, t.tag, t.execution_id] }),
    index("execution_tags_search").on(t.tenant_id, t.tag, t.created_at),
    index("execution_tags_execution").on(t.execution_id),
  ],
);

/** key=value metadata given when an execution started, for index-backed search. */
export const executionMetadata = sqliteTable(
  "execution_metadata",
  {
    tenant_id: text("tenant_id").notNull(),
    key: text("key").notNull(),
    value: text("value").notNull(),
    execution_id: text("execution_id").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.tenant_id, t.key, t.value, t.execution_id] }),
    index("execution_metadata_search").on(t.tenant_id, t.key, t.value, t.created_at),
    index("execution_metadata_execution").on(t.execution_id),
  ],
);

/**
 * A node's output declared as a result of its workflow (`result: {name, key}`), written by the execution's projection
 * and deleted with the execution (retention, erasure). `value` is the output's JSON, or its R2 reference when the
 * output was too big for a row. Listed newest first by (created_at, execution_id, node_id).
 */
export const results = sqliteTable(
  "results",
  {
    execution_id: text("execution_id").notNull(),
    node_id: text("node_id").notNull(),
    tenant_id: text("tenant_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    name: text("name").notNull(),
    key: text("key"),
    value: text("value", { mode: "json" }),
    created_at: integer("created_at").notNull(),
    seq: integer("seq").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.execution_id, t.node_id] }),
    index("results_by_workflow").on(t.tenant_id, t.workflow_id, t.name, t.key, t.created_at),
    index("results_by_name").on(t.tenant_id, t.name, t.key, t.created_at),
  ],
);

/**
 * A conversation bound to a workflow (POST /v1/conversations): each message runs one turn. The list columns
 * (message_count, last_*) are kept on the row by the writes that add messages, so a session list is one query.
 * `active_execution_id` is the turn in flight: one at a time, claimed by a conditional UPDATE.
 */
export const conversations = sqliteTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    /** A pinned workflow version; null runs each turn on the latest. */
    version: integer("version"),
    user_id: text("user_id"),
    metadata: text("metadata", { mode: "json" }),
    /** The token budget of the history each turn is given. */
    history_tokens: integer("history_tokens").notNull(),
    /** The running summary a turn's workflow returned (`summary` in its output), given to the next turn. */
    summary: text("summary"),
    message_count: integer("message_count").notNull().default(0),
    last_message_role: text("last_message_role"),
    last_message: text("last_message"),
    last_message_status: text("last_message_status"),
    last_message_at: integer("last_message_at"),
    active_execution_id: text("active_execution_id"),
    active_since: integer("active_since"),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
    /** Set when DELETE begins: the conversation answers 404 from then on while its executions are erased. */
    deleted_at: integer("deleted_at"),
    /** Days it is kept after its last message: its workflow's retention_days, else RETENTION_DAYS when created. */
    retain_days: integer("retain_days").notNull().default(30),
    /** When retention erases it: moved on by every message (last activity + retain_days). */
    retain_until: integer("retain_until"),
  },
  (t) => [
    index("conversations_by_tenant").on(t.tenant_id, t.updated_at, t.id),
    index("conversations_by_user").on(t.tenant_id, t.user_id, t.updated_at, t.id),
    index("conversations_by_retention").on(t.retain_until),
  ],
);

/** Messages in order (seq 1, 2, …): a user message and the turn's answer, which may be `failed` or `empty`. */
export const conversationMessages = sqliteTable(
  "conversation_messages",
  {
    conversation_id: text("conversation_id").notNull(),
    seq: integer("seq").notNull(),
    role: text("role").notNull(),
    content: text("content"),
    /** ok | failed | empty (an answer), ok | unanswered (a user message whose turn failed) | pending. */
    status: text("status").notNull(),
    execution_id: text("execution_id").notNull(),
    tokens: integer("tokens").notNull(),
    error_code: text("error_code"),
    error_message: text("error_message"),
    created_at: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.conversation_id, t.seq] })],
);

/**
 * One row per clock: `tick` records the last cron tick. Its `installed_at` is written by the migration that made the
 * table, so a deployment whose Cron Trigger never fires goes red on /health once the grace period has passed.
 */
export const cronState = sqliteTable("cron_state", {
  id: text("id").primaryKey(),
  installed_at: integer("installed_at").notNull(),
  last_tick_at: integer("last_tick_at"),
  /** Failures the last tick reported (0 when every job succeeded). */
  last_tick_failures: integer("last_tick_failures").notNull().default(0),
});

/**
 * The deployment's last check of each LLM tier (the cron's model check, every MODEL_CHECK_MINUTES): what /health
 * reports without calling a model per request, and what model.down / model.up alerts are raised from.
 */
export const modelChecks = sqliteTable("model_checks", {
  tier: text("tier").primaryKey(),
  provider: text("provider").notNull(),
  model: text("model").notNull(),
  ok: integer("ok", { mode: "boolean" }).notNull(),
  error: text("error"),
  latency_ms: integer("latency_ms").notNull(),
  checked_at: integer("checked_at").notNull(),
  /** When the tier last went from up to down or back (its first check counts as a change). */
  since: integer("since").notNull(),
});

/**
 * Idempotency-Key for the create routes (workflows, monitors, schedules): which object a key made, and from what
 * request. Scoped per route, so one key may be reused across different kinds of create.
 */
export const createRequests = sqliteTable(
  "create_requests",
  {
    tenant_id: text("tenant_id").notNull(),
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    request_hash: text("request_hash").notNull(),
    resource_id: text("resource_id").notNull(),
    created_at: integer("created_at").notNull(),
    /** Set once the object exists; null while the request that claimed the key is creating it. */
    completed_at: integer("completed_at"),
  },
  (t) => [primaryKey({ columns: [t.tenant_id, t.scope, t.key] }), index("create_requests_created").on(t.created_at)],
);

/**
 * An approval node's request for a decision (src/engine/approval.ts has its rules). The row is the truth of who may
 * decide and whether it is settled: a decision and the tally it completes are one D1 transaction, so a quorum is met
 * once however many click at the same time.
 */
export const approvals = sqliteTable(
  "approvals",
  {
    id: text("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    execution_id: text("execution_id").notNull(),
    workflow_id: text("workflow_id").notNull(),
    node_id: text("node_id").notNull(),
    title: text("title").notNull(),
    message: text("message"),
    /** Who may decide (addresses or user ids), escalation targets appended as they are added. */
    approvers: text("approvers", { mode: "json" }).$type<string[]>().notNull(),
    quorum: integer("quorum").notNull(),
    /** JSON Schema of a decision's data, or null. */
    form: text("form", { mode: "json" }).$type<Record<string, unknown> | null>(),
    email: integer("email", { mode: "boolean" }).notNull(),
    webhook_url: text("webhook_url"),
    /** The sealed webhook signing secret ("iv:ciphertext"). */
    webhook_secret: text("webhook_secret"),
    remind_every_ms: integer("remind_every_ms"),
    escalate: text("escalate", { mode: "json" }).$type<{ after_ms: number; to: string[] }[]>().notNull(),
    timeout_ms: integer("timeout_ms"),
    timeout_action: text("timeout_action", { enum: ["approve", "reject", "fail"] }),
    status: text("status", { enum: ["pending", "approved", "rejected", "timed_out", "cancelled"] }).notNull(),
    created_at: integer("created_at").notNull(),
    reminders_sent: integer("reminders_sent").notNull(),
    escalations: integer("escalations").notNull(),
    /** When the cron next owes it something (a reminder, an escalation, the timeout); null when nothing is owed. */
    next_action_at: integer("next_action_at"),
    decided_at: integer("decided_at"),
    /** When the execution accepted the result (src/engine/approval.ts approvalResult); until then the cron resends. */
    delivered_at: integer("delivered_at"),
  },
  (t) => [
    index("approvals_tenant_status").on(t.tenant_id, t.status, t.created_at),
    index("approvals_due").on(t.status, t.next_action_at),
    index("approvals_undelivered").on(t.delivered_at, t.decided_at),
    index("approvals_execution").on(t.execution_id),
  ],
);

/** One approver's decision: the primary key makes a second click by the same person the same decision. */
export const approvalDecisions = sqliteTable(
  "approval_decisions",
  {
    approval_id: text("approval_id").notNull(),
    approver: text("approver").notNull(),
    decision: text("decision", { enum: ["approve", "reject"] }).notNull(),
    data: text("data", { mode: "json" }),
    comment: text("comment"),
    decided_at: integer("decided_at").notNull(),
    /** "link" (the signed link) or "api:<key id>" (the API or the dashboard). */
    via: text("via").notNull(),
    ip: text("ip"),
    user_agent: text("user_agent"),
  },
  (t) => [primaryKey({ columns: [t.approval_id, t.approver] })],
);

/**
 * What an approval tells people (the request, a reminder, an escalation, the outcome), by email or signed webhook:
 * an outbox row each, sent at once and retried by the cron until delivered or out of attempts.
 */
export const approvalNotices = sqliteTable(
  "approval_notices",
  {
    id: text("id").primaryKey(),
    approval_id: text("approval_id").notNull(),
    kind: text("kind", { enum: ["requested", "reminder", "escalated", "decided", "timed_out"] }).notNull(),
    channel: text("channel", { enum: ["email", "webhook"] }).notNull(),
    /** The address, or null for the webhook. */
    recipient: text("recipient"),
    created_at: integer("created_at").notNull(),
    attempts: integer("attempts").notNull(),
    delivered_at: integer("delivered_at"),
    next_attempt_at: integer("next_attempt_at"),
    last_error: text("last_error"),
  },
  (t) => [
    index("approval_notices_pending").on(t.delivered_at, t.next_attempt_at),
    index("approval_notices_approval").on(t.approval_id, t.created_at),
  ],
);

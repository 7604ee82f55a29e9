// What each route answers on success, as zod: the OpenAPI document's response schemas, and what the test client
// checks every response body against. Nullable fields are null when unset, never missing.
import { z } from "zod";
import { APPROVAL_STATUSES, TIMEOUT_ACTIONS } from "../engine/approval";
import { eventSchema } from "../engine/event-schema";
import { EXECUTION_STATUSES, ITEM_STATUSES } from "../engine/events";
import { executionView } from "../engine/views";
import { LANES } from "../engine/fair-share";

const time = z.string().describe("ISO 8601");
const nullableTime = time.nullable();
const error = z.object({ code: z.string(), message: z.string() }).nullable();
const cursor = z.string().nullable().describe("Pass as `cursor` for the next page; null on the last one.");
const any = z.unknown();
const page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: cursor });
const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });

const connectionView = z.object({
  name: z.string(),
  grant: z.enum(["client_credentials", "refresh_token"]),
  token_url: z.string(),
  client_id: z.string(),
  auth_method: z.enum(["client_secret_basic", "client_secret_post"]),
  scope: z.string().nullable(),
  audience: z.string().nullable(),
  /** ok: the last token request succeeded; failing: it did not (last_error says why); unused: none yet. */
  status: z.enum(["ok", "failing", "unused"]),
  last_error: z.string().nullable(),
  last_token_at: nullableTime,
  created_at: time,
  updated_at: time,
});

const approvalDecision = z.object({
  approver: z.string(),
  decision: z.enum(["approve", "reject"]),
  data: any,
  comment: z.string().nullable(),
  decided_at: time,
  /** "link" (a signed link) or "api:<key id>". */
  via: z.string(),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
});

const approvalView = z.object({
  id: z.string(),
  status: z.enum(APPROVAL_STATUSES),
  title: z.string(),
  message: z.string().nullable(),
  execution_id: z.string(),
  workflow_id: z.string(),
  node_id: z.string(),
  approvers: z.array(z.string()),
  quorum: z.number().int(),
  form: z.record(z.string(), any).nullable(),
  channels: z.object({ email: z.boolean(), webhook_url: z.string().nullable() }),
  remind_every_ms: z.number().int().nullable(),
  escalate: z.array(z.object({ after_ms: z.number().int(), to: z.array(z.string()) })),
  timeout: z.object({ after_ms: z.number().int(), action: z.enum(TIMEOUT_ACTIONS).nullable() }).nullable(),
  expires_at: nullableTime,
  created_at: time,
  next_action_at: nullableTime,
  reminders_sent: z.number().int(),
  escalations: z.number().int(),
  decided_at: nullableTime,
  decisions: z.array(approvalDecision),
});

const approvalNotice = z.object({
  id: z.string(),
  kind: z.enum(["requested", "reminder", "escalated", "decided", "timed_out"]),
  channel: z.enum(["email", "webhook"]),
  recipient: z.string().nullable(),
  created_at: time,
  attempts: z.number().int(),
  delivered_at: nullableTime,
  next_attempt_at: nullableTime,
  last_error: z.string().nullable(),
});

/** Every event type with its data: the protocol as src/engine/event-schema.ts declares it. */
export const eventEnvelope = eventSchema;

const executionRow = z.object({
  id: z.string(),
  workflow_id: z.string(),
  version: z.number().int(),
  status: z.enum(EXECUTION_STATUSES),
  error,
  created_at: time,
  started_at: nullableTime,
  finished_at: nullableTime,
});

const message = z.object({
  seq: z.number().int(),
  role: z.enum(["user", "assistant"]),
  content: z.string().nullable().describe("null for a failed or empty answer"),
  status: z
    .enum(["ok", "pending", "unanswered", "failed", "empty"])
    .describe(
      "user: pending while its turn runs, ok once answered, unanswered when the turn failed; assistant: ok, failed or empty. Only ok messages are history.",
    ),
  execution_id: z.string(),
  error,
  created_at: time,
});

const conversation = z.object({
  id: z.string(),
  workflow_id: z.string(),
  version: z.number().int().nullable(),
  user_id: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  history_tokens: z.number().int(),
  message_count: z.number().int(),
  last_message: z
    .object({
      role: z.enum(["user", "assistant"]),
      content: z.string().nullable(),
      status: z.string().nullable(),
      created_at: nullableTime,
    })
    .nullable(),
  active_execution_id: z.string().nullable().describe("The turn running now; a message meanwhile is 409"),
  created_at: time,
  updated_at: time,
});

const workflowSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  latest_version: z.number().int(),
  created_at: time,
  updated_at: time,
});

const workflowVersion = workflowSummary.extend({ version: z.number().int(), definition: any });

const schedule = z.object({
  id: z.string(),
  workflow_id: z.string(),
  cron: z.string(),
  timezone: z.string(),
  input: any,
  enabled: z.boolean(),
  disabled_reason: z.string().nullable(),
  overlap: z.enum(["skip", "allow"]),
  next_run_at: nullableTime,
  last_run_at: nullableTime,
  last_execution_id: z.string().nullable(),
  created_at: time,
  updated_at: time,
});

const monitor = z.object({
  id: z.string(),
  name: z.string(),
  check: any,
  interval_seconds: z.number().int(),
  failure_threshold: z.number().int(),
  recovery_threshold: z.number().int(),
  unreachable_threshold: z.number().int(),
  alert: any,
  enabled: z.boolean(),
  status: z.string(),
  consecutive_failures: z.number().int(),
  consecutive_successes: z.number().int(),
  consecutive_unreachable: z.number().int(),
  next_check_at: nullableTime,
  last_checked_at: nullableTime,
  created_at: time,
  updated_at: time,
  expires_at: nullableTime,
  /** The run of alert.acknowledge's workflow for the current problem; null when there is none or it is over. */
  acknowledgement_execution_id: z.string().nullable(),
});

const statusChange = z.object({ id: z.string(), status: z.enum(EXECUTION_STATUSES) });
const check = z.object({ ok: z.boolean(), detail: z.string().optional() }).catchall(any);

/** Success bodies by "method path" (204 answers have none). */
export const RESPONSES: Record<string, z.ZodType> = {
  "get /health": z.object({
    status: z.literal("ok"),
    checks: z.object({
      d1: check,
      migrations: check,
      durable_object: check,
      cron: check,
      models: check.extend({
        tiers: z.array(
          z.object({
            tier: z.string(),
            provider: z.string(),
            model: z.string(),
            checked: z.boolean(),
            ok: z.boolean().nullable(),
            error: z.string().nullable(),
            checked_at: nullableTime,
            age_s: z.number().int().nullable(),
          }),
        ),
      }),
      /** OAuth2 connections deployment-wide, and how many failed their last token request (never turns this red). */
      connections: check.extend({ total: z.number().int().optional(), failing: z.number().int().optional() }),
    }),
  }),
  "get /openapi.json": z.record(z.string(), any),
  "get /schemas/workflow.json": z.record(z.string(), any),
  "get /schemas/template.json": z.record(z.string(), any),
  "get /schemas/events.json": z.record(z.string(), any),
  "post /v1/workflows": workflowVersion.omit({}).extend({ definition: any }),
  "get /v1/workflows": page(
    workflowSummary.extend({
      execution_count: z.number().int(),
      last_execution: z.object({ id: z.string(), status: z.string(), created_at: time }).nullable(),
    }),
  ),
  "get /v1/workflows/{id}": workflowVersion,
  "put /v1/workflows/{id}": z.object({
    id: z.string(),
    version: z.number().int(),
    latest_version: z.number().int(),
    definition: any,
    changed: z.boolean(),
  }),
  "get /v1/workflows/{id}/versions": list(z.object({ version: z.number().int(), created_at: time })),
  "post /v1/workflows/{id}/executions": z.union([
    z.object({
      id: z.string(),
      status: z.enum(EXECUTION_STATUSES),
      workflow_id: z.string(),
      version: z.number().int(),
    }),
    executionView.describe("With Prefer: wait, the execution as GET /v1/executions/:id shows it."),
  ]),
  "post /v1/workflows/{id}/executions/batch": z.object({
    workflow_id: z.string(),
    version: z.number().int(),
    created: z.number().int(),
    replayed: z.number().int(),
    refused: z.number().int(),
    /** One per item, in item order. */
    items: z.array(
      z.union([
        z.object({
          index: z.number().int(),
          status: z.enum(["created", "replayed"]),
          id: z.string(),
          execution_status: z.enum(EXECUTION_STATUSES),
        }),
        z.object({
          index: z.number().int(),
          status: z.literal("refused"),
          /** The execution an idempotency_key already belongs to, when that is why. */
          id: z.string().optional(),
          error: z.object({
            code: z.string(),
            message: z.string(),
            retryable: z.boolean(),
            errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
          }),
        }),
      ]),
    ),
  }),
  "get /v1/queues": z.object({
    /** `parked`: running executions that gave their slot back while they wait (an event, a child, a long sleep). */
    slots: z.object({
      capacity: z.number().int(),
      running: z.number().int(),
      queued: z.number().int(),
      parked: z.number().int(),
    }),
    lanes: z.array(
      z.object({ lane: z.enum(LANES), running: z.number().int(), queued: z.number().int(), parked: z.number().int() }),
    ),
    workflows: z.array(
      z.object({
        workflow_id: z.string(),
        lane: z.string(),
        running: z.number().int(),
        queued: z.number().int(),
        parked: z.number().int(),
      }),
    ),
    /** Concurrency keys: one execution holds a key at a time, the rest wait for it. */
    keys: z.array(z.object({ key: z.string(), running: z.number().int(), queued: z.number().int() })),
    /** PROVIDER_LIMITS: what each metered provider:model took of its window (shared by every tenant). */
    providers: z.array(
      z.object({
        bucket: z.string(),
        rpm: z.number().int().nullable(),
        tpm: z.number().int().nullable(),
        window_seconds: z.number().int(),
        requests: z.number().int(),
        tokens: z.number().int(),
      }),
    ),
    /** What is wrong with PROVIDER_LIMITS, if anything (metered calls then fail with provider_limits_invalid). */
    provider_limits_error: z.string().nullable(),
  }),
  "get /v1/workflows/{id}/schedules": list(schedule),
  "post /v1/workflows/{id}/schedules": schedule,
  "get /v1/executions": page(executionRow),
  "get /v1/executions/counts": z.object({
    counts: z.object(
      Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, z.number().int()])) as Record<string, z.ZodNumber>,
    ),
    total: z.number().int(),
  }),
  "post /v1/executions/bulk/{action}": z.object({
    matched: z.number().int(),
    changed: z.array(z.string()),
    unchanged: z.array(z.string()),
    failed: z.array(z.object({ id: z.string().optional(), error: z.string() })),
  }),
  "get /v1/executions/{id}": executionView,
  "get /v1/executions/{id}/events": z.object({ data: z.array(eventEnvelope), next_after: z.number().int() }),
  "get /v1/executions/{id}/nodes/{node_id}/output": any,
  "get /v1/executions/{id}/artifacts": z.object({
    data: z.array(z.object({ node_id: z.string(), path: z.string(), bytes: z.number().int() })),
    zip: z.string(),
  }),
  "get /v1/executions/{id}/nodes/{node_id}/items": z.object({
    data: z.array(
      z.object({
        index: z.number().int(),
        status: z.enum(ITEM_STATUSES),
        attempts: z.number().int(),
        item: any,
        output: any,
        error,
        started_at: nullableTime,
        finished_at: nullableTime,
        next_attempt_at: nullableTime,
        waiting_for: z.string().nullable(),
      }),
    ),
    next_after: z.number().int().nullable(),
  }),
  "post /v1/executions/{id}/cancel": statusChange,
  "post /v1/executions/{id}/redrive": statusChange,
  "post /v1/workflows/{id}/migrations": z.object({
    workflow_id: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    dry_run: z.boolean(),
    total: z.number().int(),
    movable: z.number().int(),
    blocked: z.number().int(),
    moved: z.number().int(),
    truncated: z.boolean().describe("more than 10,000 executions matched: run it again for the rest"),
    executions: z.array(
      z.object({
        execution_id: z.string(),
        movable: z.boolean(),
        moved: z.boolean(),
        reason: z.string().optional(),
        renamed: z.record(z.string(), z.string()).optional(),
        added: z.array(z.string()).optional(),
        removed: z.array(z.string()).optional(),
      }),
    ),
  }),
  "get /v1/executions/{id}/diff": z.object({
    id: z.string(),
    against: z.string(),
    nodes: z.array(
      z.object({
        node_id: z.string(),
        status: z.enum(["unchanged", "changed", "new", "skipped", "removed"]),
        against_status: z.string().nullable(),
        this_status: z.string().nullable(),
        changes: z.array(z.object({ path: z.string(), before: any, after: any })),
        changes_truncated: z.boolean(),
      }),
    ),
    cost_usd: z.object({ this: z.number(), against: z.number(), difference: z.number() }),
    llm_calls: z.object({ this: z.number().int(), against: z.number().int() }),
  }),
  "post /v1/executions/{id}/forks": z.object({
    id: z.string(),
    status: z.enum(EXECUTION_STATUSES),
    workflow_id: z.string(),
    version: z.number().int(),
    forked_from: z.string(),
    fork_node: z.string(),
    effects: z.enum(["mock", "allow"]),
    kept: z.number().int().describe("nodes that keep the source's output"),
    rerun: z.array(z.string()).describe("nodes that run again (or are mocked, or reuse a recorded answer)"),
  }),
  "post /v1/executions/{id}/pause": statusChange,
  "post /v1/executions/{id}/resume": statusChange,
  "post /v1/executions/{id}/events": z.object({ id: z.string(), name: z.string(), delivered_to: any }),
  "post /v1/stream-tickets": z.object({ ticket: z.string(), execution_id: z.string(), expires_at: time }),
  "get /v1/schedules": list(schedule),
  "get /v1/schedules/{id}": schedule,
  "patch /v1/schedules/{id}": schedule,
  "get /v1/schedules/{id}/runs": list(
    z.object({
      scheduled_at: time,
      status: z.string(),
      execution_id: z.string().nullable(),
      reason: z.string().nullable(),
    }),
  ),
  "post /v1/monitors": monitor.extend({ webhook_secret: z.string().optional() }),
  "get /v1/monitors": list(monitor),
  "get /v1/monitors/{id}": monitor,
  "patch /v1/monitors/{id}": monitor,
  "post /v1/monitors/{id}/secret": z.object({ id: z.string(), webhook_secret: z.string() }),
  "get /v1/monitors/{id}/checks": list(
    z.object({
      at: time,
      ok: z.boolean(),
      /** up, gone (down) or unreachable (blocked, rate-limited, erroring); null for checks before the distinction. */
      outcome: z.enum(["up", "gone", "unreachable"]).nullable(),
      latency_ms: z.number().nullable(),
      error: z.string().nullable(),
    }),
  ),
  "get /v1/monitors/{id}/alerts": list(
    z.object({
      id: z.string(),
      kind: z.string(),
      /** One alert row per channel of a transition, each delivered (and retried) on its own. */
      channel: z.enum(["webhook", "email"]),
      created_at: time,
      sent_at: nullableTime,
      attempts: z.number().int(),
      delivered_at: nullableTime,
      next_attempt_at: nullableTime,
      last_error: z.string().nullable(),
    }),
  ),
  "get /v1/models": list(z.record(z.string(), any)),
  "post /v1/models/test": list(z.record(z.string(), any)),
  "get /v1/budget": z.object({ monthly_usd: z.number().nullable(), month: z.string(), spent_usd: z.number() }),
  "put /v1/budget": z.object({ monthly_usd: z.number().nullable() }),
  "get /v1/usage": z.object({
    month: z.string(),
    total_usd: z.number(),
    data: z.array(
      z.object({
        workflow_id: z.string(),
        provider: z.string(),
        model: z.string(),
        calls: z.number().int(),
        input_tokens: z.number().int(),
        output_tokens: z.number().int(),
        cost_usd: z.number(),
      }),
    ),
  }),
  "get /v1/results": page(
    z.object({
      workflow_id: z.string(),
      name: z.string(),
      key: z.string().nullable(),
      execution_id: z.string(),
      node_id: z.string(),
      created_at: time,
      value: any,
      value_ref: z.object({ bytes: z.number().int(), sha256: z.string(), href: z.string() }).optional(),
    }),
  ),
  "post /v1/conversations": conversation,
  "get /v1/conversations": page(conversation),
  "get /v1/conversations/{id}": conversation,
  "get /v1/conversations/{id}/messages": z.object({
    data: z.array(message),
    next_after: z.number().int().nullable().describe("Pass as `after` for the next page; null on the last one."),
  }),
  "post /v1/conversations/{id}/messages": z.object({
    conversation_id: z.string(),
    execution_id: z.string(),
    status: z.enum(EXECUTION_STATUSES),
    message,
    reply: message.nullable().describe("The answer when the turn ended within Prefer: wait; null on a 202."),
    history: z.object({
      messages: z.number().int().describe("Earlier messages the turn was given"),
      tokens: z.number().int().describe("Their estimated tokens"),
      dropped: z.boolean().describe("Older messages were left out to stay within history_tokens"),
    }),
    stream: z.string().describe("The turn's event stream (SSE or WebSocket); the reply streams as node.delta"),
  }),
  "get /v1/templates": list(
    z.object({
      name: z.string(),
      description: z.string(),
      input_schema: any,
      input_example: any,
      nodes: z.number().int(),
    }),
  ),
  "post /v1/templates/{name}/instantiate": workflowVersion.extend({ template: z.string().optional() }).catchall(any),
  "post /v1/replay-checks": z.object({
    /** No node of any recorded run would change or break. */
    ok: z.boolean(),
    executions: z.array(
      z.object({
        execution_id: z.string(),
        workflow_id: z.string(),
        version: z.number().int(),
        failing: z.number().int(),
        nodes: z.array(
          z.object({
            node_id: z.string(),
            verdict: z.enum(["unchanged", "changed", "broken", "new", "removed", "not_run"]),
            detail: z.string().nullable(),
            before: any,
            after: any,
          }),
        ),
      }),
    ),
  }),
  "get /v1/approvals": page(approvalView),
  "get /v1/approvals/{id}": approvalView.extend({ notices: z.array(approvalNotice) }),
  "post /v1/approvals/{id}/decisions": z.object({
    decision: approvalDecision,
    /** The approver had decided this before; nothing changed. */
    replayed: z.boolean(),
    /** This decision settled the approval. */
    settled: z.boolean(),
    approval: approvalView,
  }),
  "get /v1/connections": list(connectionView),
  "get /v1/connections/{name}": connectionView,
  "put /v1/connections/{name}": connectionView,
  "get /v1/secrets": list(z.object({ name: z.string(), created_at: time, updated_at: time })),
  "put /v1/secrets/{name}": z.object({ name: z.string(), updated_at: time }),
  "get /v1/cors": z.object({ origins: z.array(z.string()) }),
  "put /v1/cors": z.object({ origins: z.array(z.string()) }),
};

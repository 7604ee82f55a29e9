// Every route of the API as the OpenAPI document lists it, with the zod schemas its handler validates with; a test
// checks this table against the app's routes both ways.
import { z } from "zod";
import { definitionWithKinds } from "../engine/workflow-schema";
import { kindSpecs } from "../nodes";
import {
  bulkBody,
  cancelBody,
  eventBody,
  eventsQuery,
  executionFilter,
  itemsQuery,
  listExecutionsQuery,
  redriveBody,
  forkBody,
  diffQuery,
} from "./executions";
import { exportResultsQuery, listResultsQuery } from "./results";
import { conversationCreate, listConversationsQuery, messageBody, messagesQuery } from "./conversations";
import { chatBody } from "./chat";
import { startBody } from "./start-request";
import { batchBody } from "./start-batch";
import { corsBody } from "./cors";
import { budgetBody, usageQuery } from "./models";
import { queuesQuery } from "./queues";
import { monitorCreate, monitorPatch } from "./monitors";
import { scheduleCreate, schedulePatch } from "./schedules";
import { secretBody } from "./secrets";
import { connectionBody } from "../engine/connection";
import { approvalsQuery, decisionBody } from "./approvals";
import { replayCheckBody } from "./replay-checks";
import { ticketBody } from "./streams";
import { instantiateBody } from "./templates";
import { getWorkflowQuery, listWorkflowsQuery, migrationBody, publishQuery } from "./workflows";

type Method = "get" | "post" | "put" | "patch" | "delete";

export interface Operation {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  ok: number;
  /** Other success statuses (an idempotent replay answers 200 instead of 201). */
  alsoOk?: number[];
  body?: z.ZodType;
  query?: z.ZodObject;
  public?: boolean;
  /** The success body's media types when it is not JSON (a page, a stream, an export). */
  content?: Record<string, string>;
  /** Honours `Prefer: wait=N`. */
  preferWait?: boolean;
  /** Honours Idempotency-Key though a replay answers with the same status (implied by alsoOk 200). */
  idempotent?: boolean;
  /** The [vars] setting that caps the body, when it is not MAX_BODY_BYTES (published as `x-body-limit`). */
  bodyLimit?: "MAX_BATCH_BODY_BYTES";
}

// Nodes as a discriminated union over `kind`, each with its executor's own config schema.
const definition = definitionWithKinds(kindSpecs);

/** Every route, with the zod schemas its handler validates with; a test checks this list against the app's routes. */
export const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/health",
    summary: "D1, the bundled schema, a Durable Object round trip, the cron clock and each LLM tier's last check",
    tag: "operations",
    ok: 200,
    public: true,
  },
  { method: "get", path: "/openapi.json", summary: "This document", tag: "operations", ok: 200, public: true },
  {
    method: "get",
    path: "/schemas/workflow.json",
    summary: "JSON Schema of a workflow definition (for editors)",
    tag: "operations",
    ok: 200,
    public: true,
  },
  {
    method: "get",
    path: "/schemas/template.json",
    summary: "JSON Schema of a template file",
    tag: "operations",
    ok: 200,
    public: true,
  },
  {
    method: "get",
    path: "/schemas/events.json",
    summary: "JSON Schema of an execution event (every type and its data)",
    tag: "operations",
    ok: 200,
    public: true,
  },
  {
    method: "get",
    path: "/docs",
    summary: "An interactive reference page for this document",
    tag: "operations",
    ok: 200,
    public: true,
    content: { "text/html": "The reference page." },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (Authorization: Bearer <METRICS_TOKEN>)",
    tag: "operations",
    ok: 200,
    public: true,
    content: { "text/plain": "The Prometheus text exposition format (version 0.0.4)." },
  },
  {
    method: "post",
    path: "/v1/workflows",
    summary: "Create a workflow (version 1; Idempotency-Key supported)",
    tag: "workflows",
    ok: 201,
    alsoOk: [200],
    body: definition,
  },
  {
    method: "get",
    path: "/v1/workflows",
    summary: "List workflows with execution counts and last execution",
    tag: "workflows",
    ok: 200,
    query: listWorkflowsQuery,
  },
  {
    method: "get",
    path: "/v1/workflows/{id}",
    summary: "Get a workflow (latest or ?version=n)",
    tag: "workflows",
    ok: 200,
    query: getWorkflowQuery,
  },
  {
    method: "put",
    path: "/v1/workflows/{id}",
    summary:
      "Publish version n+1 (with ?if_changed=true only when the definition differs). With an Idempotency-Key, a retry answers the version the first request published",
    tag: "workflows",
    ok: 200,
    idempotent: true,
    query: publishQuery,
    body: definition,
  },
  { method: "delete", path: "/v1/workflows/{id}", summary: "Soft-delete a workflow", tag: "workflows", ok: 204 },
  {
    method: "post",
    path: "/v1/workflows/{id}/migrations",
    summary:
      "Move the unfinished executions of version `from` to version `to` (node_map renames nodes): per execution movable, or blocked with the reason; dry_run (the default) moves nothing, otherwise each movable one moves in one atomic call without re-running a completed node",
    tag: "workflows",
    ok: 200,
    body: migrationBody,
  },
  {
    method: "get",
    path: "/v1/workflows/{id}/versions",
    summary: "List a workflow's versions",
    tag: "workflows",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/workflows/{id}/executions",
    summary:
      "Start an execution (Idempotency-Key supported). With Prefer: wait=N (N ≤ 60) the answer is the execution once it settled (status, output, error, nodes), or as it is when N ran out",
    tag: "executions",
    ok: 201,
    alsoOk: [200],
    body: startBody,
    preferWait: true,
  },
  {
    method: "post",
    path: "/v1/workflows/{id}/executions/batch",
    summary:
      "Start up to 1,000 executions of one version, each with its own input and idempotency_key, answered per item (created, replayed or refused with its code); a malformed item is refused alone, a batch over 1,000 items or the body limit is 413 before anything starts",
    tag: "executions",
    ok: 200,
    body: batchBody,
    bodyLimit: "MAX_BATCH_BODY_BYTES",
  },
  {
    method: "get",
    path: "/v1/executions",
    summary: "List executions, newest first",
    tag: "executions",
    ok: 200,
    query: listExecutionsQuery,
  },
  {
    method: "get",
    path: "/v1/executions/counts",
    summary: "How many executions match the filter in each status",
    tag: "executions",
    ok: 200,
    query: executionFilter,
  },
  {
    method: "get",
    path: "/v1/executions/{id}",
    summary: "An execution with every node run; with Prefer: wait=N, once it settled (at most N s)",
    tag: "executions",
    ok: 200,
    preferWait: true,
  },
  {
    method: "post",
    path: "/v1/executions/bulk/{action}",
    summary:
      "Cancel, redrive or delete (action) up to `limit` executions matching a filter. With an Idempotency-Key, an execution a redrive already redrove is not redriven again by its retry",
    tag: "executions",
    ok: 200,
    idempotent: true,
    body: bulkBody,
  },
  {
    method: "delete",
    path: "/v1/executions/{id}",
    summary: "Erase an execution everywhere (cancelled first if running), with its child executions",
    tag: "executions",
    ok: 204,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/events",
    summary: "The ordered event log",
    tag: "executions",
    ok: 200,
    query: eventsQuery,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/nodes/{node_id}/output",
    summary: "A succeeded node's whole output (streamed from R2 when it was too large to keep inline)",
    tag: "executions",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/artifacts",
    summary: "The files the execution's nodes returned (a node's `artifacts`), by node and path",
    tag: "executions",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/artifacts.zip",
    summary: "Every file the execution's nodes returned, streamed as one zip (entries <node>/<path>)",
    tag: "executions",
    ok: 200,
    content: { "application/zip": "A zip archive, deflated, one entry per file." },
  },
  {
    method: "get",
    path: "/v1/executions/{id}/nodes/{node_id}/items",
    summary: "A map node's items in input order: status, attempts, output or error",
    tag: "executions",
    ok: 200,
    query: itemsQuery,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/events",
    summary:
      "Send a named event to wait_for_event nodes. Idempotency-Key supported: a retried event is the same one (200, Idempotent-Replayed: true), never received twice",
    tag: "executions",
    ok: 202,
    alsoOk: [200],
    body: eventBody,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/cancel",
    summary: "Cancel an execution",
    tag: "executions",
    ok: 200,
    body: cancelBody,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/redrive",
    summary:
      "Run a finished execution again from its failed nodes or from_node. Idempotency-Key supported: a retried redrive is the same one (Idempotent-Replayed: true), its nodes are not run again",
    tag: "executions",
    ok: 200,
    idempotent: true,
    body: redriveBody,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/diff",
    summary:
      "What changed against another execution (a fork's source): per node unchanged, changed, new, skipped or removed, the output paths that differ, and the model cost of each",
    tag: "executions",
    ok: 200,
    query: diffQuery,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/forks",
    summary:
      "Fork an execution at from_node into a new one: only from_node and what is downstream of it run again (from_node not at all with output_patch), every other node keeps the source's output; a model request identical to the source's reuses its answer; side effects are mocked unless effects is allow. Idempotency-Key supported: a retried fork is the same one (200, Idempotent-Replayed: true)",
    tag: "executions",
    ok: 201,
    alsoOk: [200],
    body: forkBody,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/pause",
    summary: "Pause: running attempts finish, nothing new starts",
    tag: "executions",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/resume",
    summary: "Resume a paused execution",
    tag: "executions",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/executions/{id}/stream",
    summary: "Live events over WebSocket (Upgrade) or SSE (Accept: text/event-stream); Bearer or ?ticket=",
    tag: "streams",
    ok: 200,
    content: {
      "text/event-stream":
        "Server-sent events: each event is one `data:` line holding the event envelope as JSON and `id:` its seq; no `event:` name, so EventSource's onmessage receives every one. Comments keep the connection alive.",
    },
  },
  {
    method: "post",
    path: "/v1/stream-tickets",
    summary: "A single-use, short-lived ticket for a browser stream",
    tag: "streams",
    ok: 201,
    body: ticketBody,
  },
  {
    method: "post",
    path: "/v1/workflows/{id}/schedules",
    summary: "Create a cron schedule (Idempotency-Key supported)",
    tag: "schedules",
    ok: 201,
    alsoOk: [200],
    body: scheduleCreate,
  },
  {
    method: "get",
    path: "/v1/workflows/{id}/schedules",
    summary: "List a workflow's schedules",
    tag: "schedules",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/schedules",
    summary: "Every schedule of the tenant (at most 500)",
    tag: "schedules",
    ok: 200,
  },
  { method: "get", path: "/v1/schedules/{id}", summary: "Get a schedule", tag: "schedules", ok: 200 },
  {
    method: "patch",
    path: "/v1/schedules/{id}",
    summary: "Update a schedule",
    tag: "schedules",
    ok: 200,
    body: schedulePatch,
  },
  { method: "delete", path: "/v1/schedules/{id}", summary: "Delete a schedule", tag: "schedules", ok: 204 },
  {
    method: "get",
    path: "/v1/schedules/{id}/runs",
    summary: "Recent runs: started or skipped, with why",
    tag: "schedules",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/monitors",
    summary: "Create a monitor (the webhook secret is shown here; Idempotency-Key supported)",
    tag: "monitors",
    ok: 201,
    alsoOk: [200],
    body: monitorCreate,
  },
  { method: "get", path: "/v1/monitors", summary: "List monitors", tag: "monitors", ok: 200 },
  { method: "get", path: "/v1/monitors/{id}", summary: "Get a monitor", tag: "monitors", ok: 200 },
  {
    method: "patch",
    path: "/v1/monitors/{id}",
    summary: "Update a monitor",
    tag: "monitors",
    ok: 200,
    body: monitorPatch,
  },
  { method: "delete", path: "/v1/monitors/{id}", summary: "Delete a monitor", tag: "monitors", ok: 204 },
  {
    method: "post",
    path: "/v1/monitors/{id}/secret",
    summary: "Rotate the webhook signing secret (the new one is shown once)",
    tag: "monitors",
    ok: 200,
  },
  { method: "get", path: "/v1/monitors/{id}/checks", summary: "Recent check results", tag: "monitors", ok: 200 },
  { method: "get", path: "/v1/monitors/{id}/alerts", summary: "Alerts with delivery state", tag: "monitors", ok: 200 },
  {
    method: "get",
    path: "/v1/models",
    summary: "LLM tiers, their configuration and breaker state",
    tag: "llm",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/models/test",
    summary: "Call every configured tier with a tiny prompt",
    tag: "llm",
    ok: 200,
  },
  { method: "get", path: "/v1/budget", summary: "Monthly LLM budget and month-to-date spend", tag: "llm", ok: 200 },
  {
    method: "put",
    path: "/v1/budget",
    summary: "Set the monthly LLM budget (null = unlimited, 0 = none)",
    tag: "llm",
    ok: 200,
    body: budgetBody,
  },
  {
    method: "get",
    path: "/v1/queues",
    summary:
      "The tenant's running slots: what runs and what waits per lane (interactive, default, batch) and per workflow, and its concurrency keys, the longest queues first",
    tag: "executions",
    ok: 200,
    query: queuesQuery,
  },
  {
    method: "get",
    path: "/v1/usage",
    summary: "LLM calls, tokens and cost per workflow and model",
    tag: "llm",
    ok: 200,
    query: usageQuery,
  },
  {
    method: "get",
    path: "/v1/results",
    summary: "Results workflows produced (a node's `result`), by workflow, name and key, newest first",
    tag: "results",
    ok: 200,
    query: listResultsQuery,
  },
  {
    method: "get",
    path: "/v1/results/export",
    summary: "Every matching result, streamed page by page as NDJSON or CSV",
    tag: "results",
    ok: 200,
    query: exportResultsQuery,
    content: {
      "application/x-ndjson": "One result per line, as GET /v1/results shows it.",
      "text/csv": "created_at,workflow_id,name,key,execution_id,node_id,value (the value as JSON).",
    },
  },
  {
    method: "post",
    path: "/v1/conversations",
    summary: "Start a conversation bound to a workflow (Idempotency-Key supported)",
    tag: "conversations",
    ok: 201,
    alsoOk: [200],
    body: conversationCreate,
  },
  {
    method: "get",
    path: "/v1/conversations",
    summary: "Conversations, most recently active first, with message count and last message",
    tag: "conversations",
    ok: 200,
    query: listConversationsQuery,
  },
  { method: "get", path: "/v1/conversations/{id}", summary: "One conversation", tag: "conversations", ok: 200 },
  {
    method: "delete",
    path: "/v1/conversations/{id}",
    summary: "Erase a conversation, its messages and every execution of its turns",
    tag: "conversations",
    ok: 204,
  },
  {
    method: "get",
    path: "/v1/conversations/{id}/messages",
    summary: "Messages in order, paged by seq",
    tag: "conversations",
    ok: 200,
    query: messagesQuery,
  },
  {
    method: "post",
    path: "/v1/conversations/{id}/messages",
    summary:
      "Send a message: runs one turn with the history window. With Prefer: wait=N (N ≤ 60) answers 200 with the reply when the turn ends within N s, else 202 with its execution and stream; 409 conversation_busy while a turn runs. Idempotency-Key supported: a retried message is the same turn (Idempotent-Replayed: true), never a second one",
    tag: "conversations",
    ok: 202,
    alsoOk: [200],
    body: messageBody,
    preferWait: true,
  },
  {
    method: "post",
    path: "/v1/chat",
    summary:
      "A conversation turn in the AI SDK's UI message stream protocol (useChat with DefaultChatTransport; `id` is the conversation id). Idempotency-Key supported: a retried POST is the same turn, streamed again from its start (Idempotent-Replayed: true)",
    tag: "conversations",
    ok: 200,
    idempotent: true,
    body: chatBody,
    content: {
      "text/event-stream":
        "The AI SDK UI message stream (x-vercel-ai-ui-message-stream: v1): start, text-start/text-delta/text-end as the reply streams, finish or error, then [DONE].",
    },
  },
  {
    method: "get",
    path: "/v1/chat/{id}/stream",
    summary: "Resume the running turn's UI message stream (a replay from its start); 204 when no turn runs",
    tag: "conversations",
    ok: 200,
    alsoOk: [204],
    content: { "text/event-stream": "The running turn's UI message stream, replayed from its start." },
  },
  { method: "get", path: "/v1/templates", summary: "Ready-to-run workflow templates", tag: "templates", ok: 200 },
  {
    method: "post",
    path: "/v1/templates/{name}/instantiate",
    summary: "Create a workflow from a template (Idempotency-Key supported)",
    tag: "templates",
    ok: 201,
    alsoOk: [200],
    body: instantiateBody,
  },
  { method: "get", path: "/v1/secrets", summary: "Secret names (values are never returned)", tag: "secrets", ok: 200 },
  {
    method: "put",
    path: "/v1/secrets/{name}",
    summary: "Store a secret, encrypted",
    tag: "secrets",
    ok: 200,
    body: secretBody,
  },
  { method: "delete", path: "/v1/secrets/{name}", summary: "Delete a secret", tag: "secrets", ok: 204 },
  {
    method: "get",
    path: "/v1/connections",
    summary: "OAuth2 connections (never a secret or token)",
    tag: "connections",
    ok: 200,
  },
  {
    method: "get",
    path: "/v1/connections/{name}",
    summary: "One OAuth2 connection and its last token request",
    tag: "connections",
    ok: 200,
  },
  {
    method: "put",
    path: "/v1/connections/{name}",
    summary: "Create or replace an OAuth2 connection (client credentials or refresh token), secrets encrypted",
    tag: "connections",
    ok: 201,
    alsoOk: [200],
    body: connectionBody,
  },
  {
    method: "delete",
    path: "/v1/connections/{name}",
    summary: "Delete a connection and its cached token",
    tag: "connections",
    ok: 204,
  },
  {
    method: "post",
    path: "/v1/replay-checks",
    summary:
      "Golden replay: would a definition give any node of these recorded runs another resolved input? Nothing runs",
    tag: "workflows",
    ok: 200,
    body: replayCheckBody,
  },
  {
    method: "get",
    path: "/v1/approvals",
    summary: "The approvals inbox: by assignee (an address or a user id), status or execution, newest first",
    tag: "approvals",
    ok: 200,
    query: approvalsQuery,
  },
  {
    method: "get",
    path: "/v1/approvals/{id}",
    summary: "One approval: its decisions (who, when, from where) and its notices",
    tag: "approvals",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/approvals/{id}/decisions",
    summary: "Decide as one of the approvers (201; the same decision again answers 200, a different one 409)",
    tag: "approvals",
    ok: 201,
    alsoOk: [200],
    body: decisionBody,
  },
  {
    method: "get",
    path: "/approve/{token}",
    summary: "The confirm page an approval link opens (HTML, no script); it decides nothing",
    tag: "approvals",
    ok: 200,
    public: true,
    content: { "text/html": "The approval and a form to approve or reject it." },
  },
  {
    method: "post",
    path: "/approve/{token}",
    summary:
      "Decide through a signed link: a form post (decision=approve|reject, comment, data.<field>); 403 for a forged or foreign link, 410 once expired, used or closed, 422 when the form's data does not match",
    tag: "approvals",
    ok: 200,
    public: true,
    content: { "text/html": "What was recorded." },
  },
  {
    method: "get",
    path: "/approve/_/page.css",
    summary: "The confirm page's stylesheet",
    tag: "approvals",
    ok: 200,
    public: true,
    content: { "text/css": "The stylesheet." },
  },
  { method: "get", path: "/v1/cors", summary: "Browser origins allowed for this tenant", tag: "operations", ok: 200 },
  {
    method: "put",
    path: "/v1/cors",
    summary: "Replace the allowed browser origins",
    tag: "operations",
    ok: 200,
    body: corsBody,
  },
];

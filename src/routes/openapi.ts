import { Hono } from "hono";
import { z } from "zod";
import { definitionSchema } from "../engine/dag";
import type { AppEnv } from "../middleware/context";
import {
  bulkBody,
  cancelBody,
  eventBody,
  eventsQuery,
  executionFilter,
  itemsQuery,
  listExecutionsQuery,
  redriveBody,
  startBody,
} from "./executions";
import { corsBody } from "./cors";
import { budgetBody, usageQuery } from "./models";
import { monitorCreate, monitorPatch } from "./monitors";
import { scheduleCreate, schedulePatch } from "./schedules";
import { secretBody } from "./secrets";
import { ticketBody } from "./streams";
import { instantiateBody } from "./templates";
import { getWorkflowQuery, listWorkflowsQuery } from "./workflows";

type Method = "get" | "post" | "put" | "patch" | "delete";

interface Operation {
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
}

/** Every route, with the zod schemas its handler validates with; a test checks this list against the app's routes. */
export const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/health",
    summary: "D1, the bundled schema and a Durable Object round trip",
    tag: "operations",
    ok: 200,
    public: true,
  },
  { method: "get", path: "/openapi.json", summary: "This document", tag: "operations", ok: 200, public: true },
  {
    method: "get",
    path: "/docs",
    summary: "An interactive reference page for this document",
    tag: "operations",
    ok: 200,
    public: true,
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (Authorization: Bearer <METRICS_TOKEN>)",
    tag: "operations",
    ok: 200,
    public: true,
  },
  {
    method: "post",
    path: "/v1/workflows",
    summary: "Create a workflow (version 1; Idempotency-Key supported)",
    tag: "workflows",
    ok: 201,
    alsoOk: [200],
    body: definitionSchema,
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
    summary: "Publish version n+1",
    tag: "workflows",
    ok: 200,
    body: definitionSchema,
  },
  { method: "delete", path: "/v1/workflows/{id}", summary: "Soft-delete a workflow", tag: "workflows", ok: 204 },
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
    summary: "Start an execution (Idempotency-Key supported)",
    tag: "executions",
    ok: 201,
    alsoOk: [200],
    body: startBody,
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
    summary: "An execution with every node run",
    tag: "executions",
    ok: 200,
  },
  {
    method: "post",
    path: "/v1/executions/bulk/{action}",
    summary: "Cancel, redrive or delete (action) up to `limit` executions matching a filter",
    tag: "executions",
    ok: 200,
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
    path: "/v1/executions/{id}/nodes/{node_id}/items",
    summary: "A map node's items in input order: status, attempts, output or error",
    tag: "executions",
    ok: 200,
    query: itemsQuery,
  },
  {
    method: "post",
    path: "/v1/executions/{id}/events",
    summary: "Send a named event to wait_for_event nodes",
    tag: "executions",
    ok: 202,
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
    summary: "Run a finished execution again from its failed nodes or from_node",
    tag: "executions",
    ok: 200,
    body: redriveBody,
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
    path: "/v1/usage",
    summary: "LLM calls, tokens and cost per workflow and model",
    tag: "llm",
    ok: 200,
    query: usageQuery,
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

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });

let cached: Record<string, unknown> | null = null;

/** The OpenAPI 3.1 document, built once per isolate from OPERATIONS. */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (op.query) {
      for (const [name, schema] of Object.entries(op.query.shape)) {
        params.push({ name, in: "query", required: false, schema: jsonSchema(schema as z.ZodType) as never });
      }
    }
    (paths[op.path] ??= {})[op.method] = {
      summary: op.summary,
      tags: [op.tag],
      operationId: `${op.method}${op.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
      ...(op.public ? { security: [] } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(op.body
        ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body) } } } }
        : {}),
      responses: {
        [String(op.ok)]:
          op.ok === 204
            ? { description: "No content" }
            : { description: "Success", content: { "application/json": { schema: {} } } },
        ...Object.fromEntries(
          (op.alsoOk ?? []).map((st) => [
            String(st),
            { description: "Success (replay)", content: { "application/json": { schema: {} } } },
          ]),
        ),
        default: {
          description: "An RFC 9457 problem",
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
      },
    };
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Edgeflow",
      version: "1",
      description: "Durable DAG workflows on Cloudflare Workers, Durable Objects and D1.",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API key: ef_<prefix>_<secret>" } },
      schemas: {
        Problem: {
          type: "object",
          required: ["type", "title", "status", "code", "detail"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            code: { type: "string" },
            detail: { type: "string" },
            instance: { type: "string" },
            request_id: { type: "string" },
            errors: {
              type: "array",
              items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } },
            },
          },
        },
      },
    },
  };
  return cached;
}

// A dependency-free page (no CDN): lists operations from /openapi.json and lets you try them with your key.
const DOCS = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Edgeflow API</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem;max-width:70rem}details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}
summary{cursor:pointer}code,pre,textarea,input{font-family:ui-monospace,monospace}.m{display:inline-block;width:4.5rem;font-weight:700}
textarea{width:100%;min-height:6rem}pre{background:#f6f6f6;padding:.6rem;overflow:auto}</style></head><body>
<h1>Edgeflow API</h1><p>API key: <input id="key" size="70" placeholder="ef_..."> — generated from <a href="/openapi.json">/openapi.json</a></p><div id="ops"></div>
<script>
fetch("/openapi.json").then(r=>r.json()).then(doc=>{const root=document.getElementById("ops");
for(const [path,ops] of Object.entries(doc.paths))for(const [method,op] of Object.entries(ops)){
const d=document.createElement("details");const body=op.requestBody?JSON.stringify(op.requestBody.content["application/json"].schema,null,2):"";
d.innerHTML='<summary><span class="m">'+method.toUpperCase()+'</span><code>'+path+'</code> — '+op.summary+'</summary>'+
'<p>Path: <input class="p" size="60" value="'+path+'"></p>'+(op.requestBody?'<p>Body schema:</p><pre>'+body.replace(/</g,"&lt;")+'</pre><textarea class="b">{}</textarea>':'')+
'<p><button>Send</button></p><pre class="out"></pre>';
d.querySelector("button").onclick=async()=>{const init={method:method.toUpperCase(),headers:{authorization:"Bearer "+document.getElementById("key").value}};
if(op.requestBody){init.headers["content-type"]="application/json";init.body=d.querySelector(".b").value;}
const res=await fetch(d.querySelector(".p").value,init);d.querySelector(".out").textContent=res.status+"\\n"+await res.text();};root.appendChild(d);}});
</script></body></html>`;

export const openapi = new Hono<AppEnv>()
  .get("/openapi.json", (c) => c.json(openApiDocument()))
  .get("/docs", (c) => c.html(DOCS));

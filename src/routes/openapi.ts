import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../middleware/context";
import { EXAMPLES } from "./openapi-examples";
import { OPERATIONS } from "./openapi-operations";
import { RESPONSES } from "./openapi-responses";

const jsonSchema = (schema: z.ZodType, io: "input" | "output" = "input") =>
  z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" });

// Headers every /v1 answer carries (components.headers), and the request headers some operations read.
const RESPONSE_HEADERS = {
  "X-Request-Id": { description: "This request's id (also in logs and problem bodies).", schema: { type: "string" } },
  "RateLimit-Limit": { description: "Requests per minute this key may make.", schema: { type: "integer" } },
  "RateLimit-Remaining": { description: "Requests left in the current window.", schema: { type: "integer" } },
  "RateLimit-Reset": { description: "Seconds until the bucket is full again.", schema: { type: "integer" } },
  "Retry-After": { description: "Seconds to wait before trying again (429, 503).", schema: { type: "integer" } },
  "Server-Timing": {
    description: "Where the Worker's time went: auth, rate, and for a start workflow, idempotency, object; total.",
    schema: { type: "string" },
  },
};
const headerRefs = (names: (keyof typeof RESPONSE_HEADERS)[]) =>
  Object.fromEntries(names.map((n) => [n, { $ref: `#/components/headers/${n}` }]));
const IDEMPOTENCY_KEY = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description: "The same key with the same body answers 200 with the object first created; another body 422.",
  schema: { type: "string", maxLength: 255 },
};
const LAST_EVENT_ID = {
  name: "Last-Event-ID",
  in: "header",
  required: false,
  description: "SSE: resume after this seq (EventSource sends it on reconnect).",
  schema: { type: "string" },
};

const PREFER_WAIT = {
  name: "Prefer",
  in: "header",
  required: false,
  description:
    "RFC 7240 `wait=N` (N ≤ 60): answer once the execution (or turn) settled, at most N s; Preference-Applied says it was honoured.",
  schema: { type: "string", examples: ["wait=30"] },
};

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
    // Creates that answer 200 for a replay are the ones that honour Idempotency-Key, with the AI SDK's chat.
    if (op.idempotent || op.alsoOk?.includes(200)) params.push(IDEMPOTENCY_KEY as never);
    if (op.path.endsWith("/stream")) params.push(LAST_EVENT_ID as never);
    if (op.preferWait) params.push(PREFER_WAIT as never);
    const key = `${op.method} ${op.path}`;
    const body = RESPONSES[key];
    const headers = headerRefs(
      op.path.startsWith("/v1/")
        ? ["X-Request-Id", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Server-Timing"]
        : ["X-Request-Id"],
    );
    const success = (description: string) =>
      op.content
        ? {
            description,
            headers,
            content: Object.fromEntries(
              Object.entries(op.content).map(([type, about]) => [
                type,
                { schema: { type: "string", description: about } },
              ]),
            ),
          }
        : body
          ? { description, headers, content: { "application/json": { schema: jsonSchema(body, "output") } } }
          : { description, headers };
    (paths[op.path] ??= {})[op.method] = {
      summary: op.summary,
      tags: [op.tag],
      operationId: `${op.method}${op.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
      ...(op.public ? { security: [] } : {}),
      ...(params.length ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              "x-body-limit": op.bodyLimit ?? "MAX_BODY_BYTES",
              content: {
                "application/json": {
                  schema: jsonSchema(op.body),
                  ...(EXAMPLES[`${op.method} ${op.path}`] ? { example: EXAMPLES[`${op.method} ${op.path}`] } : {}),
                },
              },
            },
          }
        : {}),
      responses: {
        [String(op.ok)]: op.ok === 204 ? { description: "No content", headers } : success("Success"),
        ...Object.fromEntries((op.alsoOk ?? []).map((st) => [String(st), success("Success (an idempotent replay)")])),
        ...(op.path.startsWith("/v1/") && !op.public
          ? {
              "429": {
                description: "Over this key's rate limit",
                headers: headerRefs(["Retry-After", "X-Request-Id"]),
                content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
              },
            }
          : {}),
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
      headers: RESPONSE_HEADERS,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "An API key: `ef_<prefix>_<secret>`" },
      },
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

/** Where the dashboard build puts Scalar's standalone bundle (a static asset: no request leaves this origin). */
export const SCALAR_BUNDLE = "/docs-assets/scalar-standalone.js";

// Scalar renders its configuration as an inline script: it runs under this page's own CSP with a per-request nonce.
const reference = (nonce: string) =>
  Scalar({
    url: "/openapi.json",
    cdn: SCALAR_BUNDLE,
    nonce,
    pageTitle: "Edgeflow API",
    theme: "default",
    withDefaultFonts: false,
    hideClientButton: false,
    showDeveloperTools: "never",
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    authentication: { preferredSecurityScheme: "bearer" },
  } as Parameters<typeof Scalar>[0]);

export const openapi = new Hono<AppEnv>()
  .get("/openapi.json", (c) => c.json(openApiDocument()))
  .get("/docs", async (c, next) => {
    const nonce = crypto.randomUUID().replace(/-/g, "");
    c.header(
      "content-security-policy",
      `default-src 'self'; script-src 'self' 'nonce-${nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'`,
    );
    // Scalar's middleware is typed for a plain Hono context; it reads nothing of ours from it.
    return reference(nonce)(c as unknown as Parameters<ReturnType<typeof Scalar>>[0], next);
  });

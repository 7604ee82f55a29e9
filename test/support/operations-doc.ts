// The documented operations of /openapi.json as the gates walk them, the bodies and paths that aim them at a
// tenant's own objects. No Cloudflare imports: used in the workerd pool and from node against `npm start`.

export interface Op {
  method: string;
  path: string;
  /** The JSON schema of each documented query parameter. */
  query: Record<string, JsonSchema>;
  hasBody: boolean;
  /** The [vars] setting that caps its body (`x-body-limit`), when it takes one. */
  bodyLimit?: string;
}

export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  format?: string;
  anyOf?: JsonSchema[];
  default?: unknown;
  pattern?: string;
}

export type Ids = Record<"wf" | "ex" | "done" | "sc" | "mo" | "cv" | "ap", string>;

export interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: { name: string; in: string; schema: JsonSchema }[]; requestBody?: { "x-body-limit"?: string } }
    >
  >;
}

/** Every operation of an OpenAPI document with its query parameters and whether it takes a JSON body. */
export function operationsOf(doc: OpenApiDoc): Op[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      query: Object.fromEntries((op.parameters ?? []).filter((p) => p.in === "query").map((p) => [p.name, p.schema])),
      hasBody: Boolean(op.requestBody),
      ...(op.requestBody?.["x-body-limit"] ? { bodyLimit: op.requestBody["x-body-limit"] } : {}),
    })),
  );
}

/** A valid body for each operation that takes one, so a refusal is about who asks or what was mutated. */
export function bodyFor(op: Pick<Op, "method" | "path">, ids: Ids, monitor: unknown): unknown {
  const bodies: Record<string, unknown> = {
    "POST /v1/workflows": { name: "x", nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }] },
    "PUT /v1/workflows/{id}": { name: "x", nodes: [{ id: "a", kind: "transform", config: { expression: "2" } }] },
    "POST /v1/workflows/{id}/executions": { input: {} },
    "POST /v1/workflows/{id}/executions/batch": { items: [{ input: {} }] },
    "POST /v1/executions/bulk/{action}": { filter: { workflow_id: ids.wf }, limit: 10 },
    "POST /v1/executions/{id}/events": { name: "go", payload: 1 },
    "POST /v1/executions/{id}/cancel": { reason: "matrix" },
    "POST /v1/executions/{id}/redrive": {},
    "POST /v1/executions/{id}/forks": { from_node: "m" },
    "POST /v1/workflows/{id}/migrations": { from: 1, to: 1 },
    "POST /v1/stream-tickets": { execution_id: ids.ex },
    "POST /v1/workflows/{id}/schedules": { cron: "0 0 1 1 *" },
    "PATCH /v1/schedules/{id}": { enabled: false },
    "POST /v1/monitors": monitor,
    "PATCH /v1/monitors/{id}": { enabled: false },
    "PUT /v1/budget": { monthly_usd: 10 },
    "POST /v1/templates/{name}/instantiate": {},
    "PUT /v1/secrets/{name}": { value: "v" },
    "PUT /v1/connections/{name}": {
      grant: "client_credentials",
      token_url: "https://idp.example.com/oauth/token",
      client_id: "matrix",
      client_secret: "matrix-secret",
    },
    "PUT /v1/cors": { origins: ["https://app.example.com"] },
    "POST /v1/approvals/{id}/decisions": { as: "matrix-approver", decision: "approve" },
    "POST /v1/replay-checks": {
      definition: { name: "x", nodes: [{ id: "m", kind: "transform", config: { expression: "1" } }] },
      executions: [ids.done],
    },
    "POST /v1/conversations": { workflow_id: ids.wf },
    "POST /v1/conversations/{id}/messages": { content: "hello" },
    "POST /v1/chat": { id: ids.cv, messages: [{ role: "user", parts: [{ type: "text", text: "hello" }] }] },
  };
  return bodies[`${op.method} ${op.path}`];
}

/**
 * The operation's path with its parameters filled in with the owned objects; results are listed by a workflow (a
 * query without one is refused), so their routes carry the owned workflow as their one required query parameter.
 */
export function concretePath(op: Pick<Op, "path">, ids: Ids): string {
  if (op.path.startsWith("/v1/results")) return `${op.path}?workflow=${ids.wf}`;
  const resource = op.path.split("/")[2];
  // A node's output exists once it succeeded, and a fork names a node of it: those aim at the finished execution.
  const execution = op.path.endsWith("/output") || op.path.endsWith("/forks") ? ids.done : ids.ex;
  const id =
    resource === "workflows"
      ? ids.wf
      : resource === "executions"
        ? execution
        : resource === "schedules"
          ? ids.sc
          : resource === "conversations" || resource === "chat"
            ? ids.cv
            : resource === "approvals"
              ? ids.ap
              : ids.mo;
  // A diff compares with another execution of the same tenant.
  const query = op.path.endsWith("/diff") ? `?against=${ids.done}` : "";
  return `${op.path}${query}`
    .replace("{id}", id)
    .replace("{node_id}", "m")
    .replace("{action}", "cancel")
    .replace(
      "{name}",
      op.path.startsWith("/v1/templates")
        ? "order-intake"
        : op.path.startsWith("/v1/connections")
          ? "matrix-conn"
          : "MATRIX_SECRET",
    );
}

/** A run that waits on an approval a user id decides (no email): the approval routes' owned object. */
export const askingDefinition = {
  name: "asks",
  nodes: [{ id: "ask", kind: "approval", config: { title: "matrix", approvers: ["matrix-approver"] } }],
};

/** The owned workflow the gates aim at: it waits for an event that never comes, then maps, so it stays running. */
export const waitingDefinition = {
  name: "owned",
  nodes: [
    { id: "w", kind: "wait_for_event", config: { event: "never" } },
    {
      id: "m",
      kind: "map",
      needs: ["w"],
      config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } },
    },
  ],
};

import type { CapturedMail } from "./mailbox";
import { Validator } from "@cfworker/json-schema";
import { env, exports } from "cloudflare:workers";
import { foldMatchesView } from "./fold-check";
import { openDb } from "../../src/db/client";
import { getProjectedExecution } from "../../src/db/history-repo";
import { insertTenantWithKey } from "../../src/db/repo";
import { historyDatabases, historyShardCount, shardForNewTenant } from "../../src/db/shards";
import { generateApiKey } from "../../src/lib/api-keys";

let tenants = 0;

/** A real tenant with a real API key in D1, as `npm run keys -- create` makes them. */
export async function createTenant(
  name = `tenant-${++tenants}`,
): Promise<{ tenantId: string; token: string; keyId: string }> {
  const tenantId = `ten_${crypto.randomUUID()}`;
  return { tenantId, ...(await createKey(tenantId, name)) };
}

/** Another API key for an existing tenant (created with the tenant if it is new), with the given scopes. */
export async function createKey(
  tenantId: string,
  name = "tenant",
  scopes = "read,write",
): Promise<{ token: string; keyId: string }> {
  const key = await generateApiKey();
  const keyId = `key_${crypto.randomUUID()}`;
  await insertTenantWithKey(
    openDb(env.DB).db,
    // Spread over the history shards this pool binds, exactly as `npm run keys` does with wrangler.toml's.
    { id: tenantId, name, history_shard: shardForNewTenant(tenantId, historyShardCount(env)) },
    { id: keyId, prefix: key.prefix, hash: key.hash, name: "test", scopes },
    Date.now(),
  );
  return { token: key.token, keyId };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

interface Operation {
  pattern: RegExp;
  method: string;
  path: string;
  statuses: number[];
  /** Each success status's body schema, as a validator. */
  bodies: Map<number, Validator>;
}
let contract: Promise<Operation[]> | null = null;

type DocResponse = { content?: Record<string, { schema?: Record<string, unknown> }> };

/** The operations of /openapi.json, as patterns the contract check matches requests against. */
function operations() {
  contract ??= exports.default
    .fetch("http://edgeflow.test/openapi.json")
    .then(
      (r) => r.json() as Promise<{ paths: Record<string, Record<string, { responses: Record<string, DocResponse> }>> }>,
    )
    .then((doc) =>
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.entries(ops).map(([method, op]) => ({
          pattern: new RegExp(`^${path.replace(/\{\w+\}/g, "[^/]+")}$`),
          method: method.toUpperCase(),
          path,
          statuses: Object.keys(op.responses)
            .filter((k) => /^[23]\d\d$/.test(k))
            .map(Number),
          bodies: new Map(
            Object.entries(op.responses).flatMap(([status, r]) => {
              const schema = r.content?.["application/json"]?.schema;
              return /^2\d\d$/.test(status) && schema
                ? [[Number(status), new Validator(schema as never, "2020-12", false)] as const]
                : [];
            }),
          ),
        })),
      ),
    );
  return contract;
}

/**
 * The API contract, checked on every call the tests make: the request hits a documented operation, a success has a
 * status the document declares for it, and a failure is problem+json whose `status` is the HTTP status.
 */
async function checkContract(method: string, path: string, res: ApiResponse): Promise<void> {
  const ops = await operations();
  const bare = path.split("?")[0] as string;
  const op = ops.find((o) => o.method === method && o.pattern.test(bare));
  if (res.status >= 400) {
    if (
      res.headers.get("content-type") !== "application/problem+json" ||
      res.body?.status !== res.status ||
      typeof res.body?.code !== "string"
    ) {
      throw new Error(
        `contract: ${method} ${path} answered ${res.status} without a matching problem+json: ${JSON.stringify(res.body)}`,
      );
    }
    if (!op && res.body.code !== "route_not_found")
      throw new Error(`contract: ${method} ${path} is not in /openapi.json`);
    return;
  }
  if (!op) throw new Error(`contract: ${method} ${path} succeeded but is not in /openapi.json`);
  if (!op.statuses.includes(res.status))
    throw new Error(
      `contract: ${method} ${op.path} answered ${res.status}; the document declares ${op.statuses.join(", ")}`,
    );
  // The body too: a field renamed, missing or added without the document saying so fails the test that saw it.
  const checked = op.bodies.get(res.status)?.validate(res.body);
  if (checked && !checked.valid) {
    const why = checked.errors
      .filter((e) => e.keyword !== "properties" && e.keyword !== "items")
      .slice(0, 5)
      .map((e) => `${e.instanceLocation}: ${e.error}`);
    throw new Error(
      `contract: ${method} ${path} answered a ${res.status} body the document does not describe: ${why.join("; ")}`,
    );
  }
}

/** Calls the Worker through its real fetch handler with the tenant's key, checking each answer against the contract. */
export function client(token: string | null) {
  const call = async <T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> => {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined && !h["content-type"]) h["content-type"] = "application/json";
    const res = await exports.default.fetch(`http://edgeflow.test${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    // A zip, an export or a page is kept as bytes read as text; JSON (and problem+json) is parsed.
    const json = /json/.test(res.headers.get("content-type") ?? "");
    const text = json ? await res.text() : new TextDecoder().decode(await res.arrayBuffer());
    const parsed = { status: res.status, headers: res.headers, body: text ? (json ? JSON.parse(text) : text) : null };
    await checkContract(method, path, parsed);
    return parsed;
  };
  return {
    get: <T = any>(path: string, headers?: Record<string, string>) => call<T>("GET", path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>("POST", path, body ?? {}, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>("PUT", path, body, headers),
    del: <T = any>(path: string) => call<T>("DELETE", path),
    raw: call,
  };
}

export type Client = ReturnType<typeof client>;

const TERMINAL = ["succeeded", "failed", "cancelled", "timed_out"];

/**
 * Poll an execution until it reaches one of `statuses` (terminal by default) and, for a terminal status,
 * until D1's projection of it agrees: every test that waits also checks that D1 ends up right.
 */
export async function waitFor(
  api: Client,
  id: string,
  statuses: string[] = TERMINAL,
  timeoutMs = 15_000,
  opts = { d1: true },
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get(`/v1/executions/${id}`);
    if (res.status !== 200) throw new Error(`GET execution ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    if (statuses.includes(res.body.status)) {
      const projected = opts.d1 && TERMINAL.includes(res.body.status) ? await projection(id) : null;
      const agrees =
        !opts.d1 ||
        !TERMINAL.includes(res.body.status) ||
        (projected !== null &&
          projected.execution.status === res.body.status &&
          // A fork's kept nodes are the source's rows: D1 has a row for each node it ran or patched.
          projected.nodes.length === res.body.nodes.filter((n: any) => !n.kept_from).length &&
          res.body.nodes
            .filter((n: any) => !n.kept_from)
            .every((n: any) =>
              projected.nodes.some((p) => p.node_id === n.node_id && p.status === n.status && p.attempt === n.attempts),
            ));
      // And the one fold of its event log (the dashboard's, the CLI's) says what the server says.
      if (agrees && TERMINAL.includes(res.body.status)) await foldMatchesView(api, id, res.body);
      if (agrees) return res.body;
    }
    if (Date.now() > deadline)
      throw new Error(
        `execution ${id} still ${res.body.status} (or D1 behind) after ${timeoutMs} ms: ${JSON.stringify(res.body.nodes)}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Poll until node `nodeId` of an execution has `status`. */
export async function waitForNode(
  api: Client,
  id: string,
  nodeId: string,
  status: string,
  timeoutMs = 10_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = (await api.get(`/v1/executions/${id}`)).body;
    const node = view.nodes.find((n: any) => n.node_id === nodeId);
    if (node?.status === status) return node;
    if (Date.now() > deadline)
      throw new Error(`node ${nodeId} of ${id} is ${node?.status}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The execution and node runs as D1 has them (what list queries see). */
/** What D1 has for an execution, from whichever history database holds it (the main one unless sharded). */
export async function projection(id: string) {
  for (const { d1 } of historyDatabases(env)) {
    const row = await d1
      .prepare("select tenant_id from executions where id = ?")
      .bind(id)
      .first<{ tenant_id: string }>();
    if (row) return getProjectedExecution(openDb(d1).db, row.tenant_id, id);
  }
  return null;
}

/** Create a workflow and start it; returns both ids. */
export async function run(api: Client, definition: unknown, input: unknown = {}, headers?: Record<string, string>) {
  const wf = await api.post("/v1/workflows", definition);
  if (wf.status !== 201) throw new Error(`create workflow: ${wf.status} ${JSON.stringify(wf.body)}`);
  const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, { input }, headers);
  if (ex.status !== 201) throw new Error(`start: ${ex.status} ${JSON.stringify(ex.body)}`);
  return { workflowId: wf.body.id as string, executionId: ex.body.id as string };
}

export const target = (path: string) => `${env.TARGET_URL}${path}`;

/**
 * The messages miniflare's send_email binding accepted for `to` (read back from its .eml files by the target server),
 * once there are at least `count` (the binding writes them just after send() returns); oldest first.
 */
export async function mailbox(to: string, count = 1, timeoutMs = 5000): Promise<CapturedMail[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const mail = (await (await fetch(target(`/mail?to=${encodeURIComponent(to)}`))).json()) as CapturedMail[];
    if (mail.length >= count || Date.now() > until) return mail;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function targetCalls(key: string): Promise<{
  calls: {
    idempotency_key: string | null;
    attempt: string | null;
    traceparent: string | null;
    started_at: number;
    finished_at?: number;
  }[];
  effects: Record<string, unknown>;
}> {
  const res = await fetch(target(`/_calls/${encodeURIComponent(key)}`));
  return res.json();
}

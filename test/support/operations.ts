// The documented operations, and one real object of each kind to aim them at: shared by the gates that walk
// /openapi.json (isolation matrix, malformed input).
import { exports } from "cloudflare:workers";
import { run, target, waitFor, waitForNode, type Client } from "./api";
import {
  bodyFor as docBodyFor,
  operationsOf,
  askingDefinition,
  waitingDefinition,
  type Ids,
  type OpenApiDoc,
  type Op,
} from "./operations-doc";

export { concretePath, type Ids, type JsonSchema, type Op } from "./operations-doc";

/** Every operation of /openapi.json with its query parameters and whether it takes a JSON body. */
export async function documentedOperations(): Promise<Op[]> {
  return operationsOf((await (await exports.default.fetch("http://edgeflow.test/openapi.json")).json()) as OpenApiDoc);
}

/**
 * One workflow, a waiting execution, a finished one, a schedule, a monitor, a secret, a connection and an approval,
 * all owned by
 * `api`'s tenant.
 */
export async function ownedObjects(api: Client): Promise<Ids> {
  const wf = (await api.post("/v1/workflows", waitingDefinition)).body.id as string;
  const { executionId: ex } = await run(api, waitingDefinition);
  await waitForNode(api, ex, "w", "waiting");
  const { executionId: done } = await run(api, {
    name: "finished",
    nodes: [
      {
        id: "m",
        kind: "map",
        config: { items: "[1, 2]", node: { kind: "transform", config: { expression: "item" } } },
      },
    ],
  });
  await waitFor(api, done);
  const sc = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "0 0 1 1 *" })).body.id as string;
  const mo = (await api.post("/v1/monitors", monitorBody())).body.id as string;
  await api.put("/v1/secrets/MATRIX_SECRET", { value: "owner-value" });
  await api.put("/v1/connections/matrix-conn", {
    grant: "client_credentials",
    token_url: "https://idp.example.com/oauth/token",
    client_id: "owner",
    client_secret: "owner-secret",
  });
  // A conversation on a workflow that answers at once, so the turns the gates send end and their streams close.
  const quick = (
    await api.post("/v1/workflows", {
      name: "quick",
      nodes: [{ id: "a", kind: "transform", config: { expression: "{'reply': 'ok'}" } }],
    })
  ).body.id as string;
  const cv = (await api.post("/v1/conversations", { workflow_id: quick })).body.id as string;
  // An approval its execution waits on, decided by a user id (no email).
  const { executionId: asking } = await run(api, askingDefinition);
  await waitForNode(api, asking, "ask", "waiting");
  const ap = (await api.get(`/v1/approvals?execution_id=${asking}`)).body.data[0].id as string;
  return { wf, ex, done, sc, mo, cv, ap };
}

export function monitorBody() {
  return {
    name: "m",
    check: { kind: "http", url: target("/status/200/matrix"), timeout_ms: 2000 },
    interval_seconds: 60,
    alert: { webhook_url: target("/hooks/matrix") },
  };
}

/** A valid body for each operation that takes one, so a refusal is about who asks or what was mutated. */
export const bodyFor = (op: Pick<Op, "method" | "path">, ids: Ids): unknown => docBodyFor(op, ids, monitorBody());

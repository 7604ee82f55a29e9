// Gate 6: every documented route × method × {another tenant's key, revoked key, missing scope, malformed key, no key}.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { revokeApiKey } from "../../src/db/repo";
import { requiredScope } from "../../src/middleware/auth";
import { client, createKey, createTenant, run, target, waitForNode } from "../support/api";
import { reportGate } from "../support/gates";

interface Op {
  method: string;
  path: string;
}

/** A valid body for each operation that takes one, so a refusal is about who asks, not what they sent. */
function bodyFor(op: Op, ids: Record<string, string>): unknown {
  const m = `${op.method} ${op.path}`;
  const bodies: Record<string, unknown> = {
    "POST /v1/workflows": { name: "x", nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }] },
    "PUT /v1/workflows/{id}": { name: "x", nodes: [{ id: "a", kind: "transform", config: { expression: "2" } }] },
    "POST /v1/workflows/{id}/executions": { input: {} },
    "POST /v1/executions/bulk/{action}": { filter: { workflow_id: ids.wf }, limit: 10 },
    "POST /v1/executions/{id}/events": { name: "go", payload: 1 },
    "POST /v1/executions/{id}/cancel": { reason: "matrix" },
    "POST /v1/executions/{id}/redrive": {},
    "POST /v1/stream-tickets": { execution_id: ids.ex },
    "POST /v1/workflows/{id}/schedules": { cron: "0 0 1 1 *" },
    "PATCH /v1/schedules/{id}": { enabled: false },
    "POST /v1/monitors": monitorBody(),
    "PATCH /v1/monitors/{id}": { enabled: false },
    "PUT /v1/budget": { monthly_usd: 10 },
    "POST /v1/templates/{name}/instantiate": {},
    "PUT /v1/secrets/{name}": { value: "v" },
    "PUT /v1/cors": { origins: ["https://app.example.com"] },
  };
  return bodies[m];
}

function monitorBody() {
  return { name: "m", check: { kind: "http", url: target("/status/200/matrix"), timeout_ms: 2000 }, interval_seconds: 60, alert: { webhook_url: target("/hooks/matrix") } };
}

function concretePath(op: Op, ids: Record<string, string>): string {
  const resource = op.path.split("/")[2];
  return op.path
    .replace("{id}", resource === "workflows" ? ids.wf! : resource === "executions" ? ids.ex! : resource === "schedules" ? ids.sc! : ids.mo!)
    .replace("{node_id}", "m")
    .replace("{action}", "cancel")
    .replace("{name}", op.path.startsWith("/v1/templates") ? "order-intake" : "MATRIX_SECRET");
}

describe("gate: tenant isolation matrix", () => {
  it("refuses every route to another tenant's key, revoked, out-of-scope, malformed and missing keys", async () => {
    const owner = await createTenant();
    const a = client(owner.token);
    const wf = (await a.post("/v1/workflows", { name: "owned", nodes: [{ id: "w", kind: "wait_for_event", config: { event: "never" } }, { id: "m", kind: "map", needs: ["w"], config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } } }] })).body.id as string;
    const { executionId: ex } = await run(a, { name: "owned run", nodes: [{ id: "w", kind: "wait_for_event", config: { event: "never" } }, { id: "m", kind: "map", needs: ["w"], config: { items: "[1]", node: { kind: "transform", config: { expression: "item" } } } }] });
    await waitForNode(a, ex, "w", "waiting");
    const sc = (await a.post(`/v1/workflows/${wf}/schedules`, { cron: "0 0 1 1 *" })).body.id as string;
    const mo = (await a.post("/v1/monitors", monitorBody())).body.id as string;
    expect((await a.put("/v1/secrets/MATRIX_SECRET", { value: "owner-value" })).status).toBe(200);
    const ids = { wf, ex, sc, mo };

    const revoked = await createKey(owner.tenantId);
    await revokeApiKey(openDb(env.DB).db, revoked.keyId, Date.now());
    const readOnly = await createKey(owner.tenantId, "tenant", "read");
    const writeOnly = await createKey(owner.tenantId, "tenant", "write");
    const other = await createTenant();

    const doc = (await (await SELF.fetch("http://edgeflow.test/openapi.json")).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const ops: Op[] = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })));
    const guarded = ops.filter((o) => o.path.startsWith("/v1/"));
    expect(guarded.length).toBeGreaterThanOrEqual(40);

    let requests = 0;
    const successes: string[] = [];
    const leaks: string[] = [];
    const wrongStatus: string[] = [];
    const send = async (op: Op, token: string | null) => {
      const path = concretePath(op, ids);
      const body = bodyFor(op, ids);
      const headers: Record<string, string> = op.path.endsWith("/stream") ? { accept: "text/event-stream" } : {};
      requests++;
      return client(token).raw(op.method, path, body, headers);
    };
    for (const op of guarded) {
      const label = `${op.method} ${op.path}`;
      const outOfScope = requiredScope(op.method, op.path) === "read" ? writeOnly.token : readOnly.token;
      for (const [variant, token, status] of [["none", null, 401], ["malformed", "edgeflow_not-a-key", 401], ["revoked", revoked.token, 401], ["scope", outOfScope, 403]] as const) {
        const res = await send(op, token);
        if (res.status < 400) successes.push(`${label} (${variant})`);
        else if (res.status !== status) wrongStatus.push(`${label} (${variant}): ${res.status} ${res.body?.code}`);
      }
      // Another tenant's key: the owner's objects do not exist for it; tenant-wide routes answer with its own data only.
      const res = await send(op, other.token);
      const ownsObject = op.path.includes("{id}") || op.path === "/v1/stream-tickets";
      if (ownsObject && res.status !== 404) (res.status < 400 ? successes : wrongStatus).push(`${label} (other tenant): ${res.status}`);
      // A refusal may repeat the id it was sent; a success must not carry anything of the owner's.
      const text = JSON.stringify(res.body);
      if (res.status < 400) for (const id of Object.values(ids)) if (text.includes(id)) leaks.push(`${label}: ${id}`);
      if (text.includes("owner-value")) leaks.push(`${label}: secret value`);
    }
    // The owner's reads all succeed with these very paths, so every 404 above was about the tenant, not the path.
    for (const op of guarded.filter((o) => o.method === "GET" && !o.path.endsWith("/stream"))) {
      const res = await send(op, owner.token);
      expect(res.status, `${op.method} ${op.path} for its owner`).toBe(200);
    }
    // Secret names are per tenant: the other tenant wrote and deleted its own MATRIX_SECRET, never the owner's.
    expect((await a.get("/v1/secrets")).body.data.map((s: { name: string }) => s.name)).toContain("MATRIX_SECRET");
    await reportGate("isolation-matrix", `${guarded.length} operations x 5 credentials, ${requests} requests, ${successes.length} successes, ${leaks.length} leaks, ${wrongStatus.length} wrong statuses`);
    expect(successes).toEqual([]);
    expect(leaks).toEqual([]);
    expect(wrongStatus).toEqual([]);
  });
});

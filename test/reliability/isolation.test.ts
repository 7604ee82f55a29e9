// Gate 6: every documented route × method × {another tenant's key, revoked key, missing scope, malformed key, no key}.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { revokeApiKey } from "../../src/db/repo";
import { requiredScope } from "../../src/middleware/auth";
import { client, createKey, createTenant } from "../support/api";
import { reportGate } from "../support/gates";
import { bodyFor, concretePath, documentedOperations, ownedObjects, type Op } from "../support/operations";

describe("gate: tenant isolation matrix", () => {
  it("refuses every route to another tenant's key, revoked, out-of-scope, malformed and missing keys", async () => {
    const owner = await createTenant();
    const a = client(owner.token);
    const ids = await ownedObjects(a);
    const revoked = await createKey(owner.tenantId);
    await revokeApiKey(openDb(env.DB).db, revoked.keyId, Date.now());
    const readOnly = await createKey(owner.tenantId, "tenant", "read");
    const writeOnly = await createKey(owner.tenantId, "tenant", "write");
    const other = await createTenant();

    const ops = await documentedOperations();
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
      for (const [variant, token, status] of [
        ["none", null, 401],
        ["malformed", "edgeflow_not-a-key", 401],
        ["revoked", revoked.token, 401],
        ["scope", outOfScope, 403],
      ] as const) {
        const res = await send(op, token);
        if (res.status < 400) successes.push(`${label} (${variant})`);
        else if (res.status !== status) wrongStatus.push(`${label} (${variant}): ${res.status} ${res.body?.code}`);
      }
      // Another tenant's key: the owner's objects do not exist for it; tenant-wide routes answer with its own data
      // only.
      const res = await send(op, other.token);
      const ownsObject = op.path.includes("{id}") || op.path === "/v1/stream-tickets";
      if (ownsObject && res.status !== 404)
        (res.status < 400 ? successes : wrongStatus).push(`${label} (other tenant): ${res.status}`);
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
    await reportGate(
      "isolation-matrix",
      `${guarded.length} operations x 5 credentials, ${requests} requests, ${successes.length} successes, ${leaks.length} leaks, ${wrongStatus.length} wrong statuses`,
    );
    expect(successes).toEqual([]);
    expect(leaks).toEqual([]);
    expect(wrongStatus).toEqual([]);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, target, type Client } from "../support/api";

const definition = (n = 1) => ({
  name: "idem",
  nodes: [{ id: "a", kind: "transform", config: { expression: String(n) } }],
});
const monitor = (name = "m") => ({
  name,
  check: { kind: "http", url: target("/status/200/idem"), timeout_ms: 2000 },
  interval_seconds: 60,
  alert: { webhook_url: target("/hooks/idem") },
});
const rows = async (table: string, column: string, value: string) =>
  (await env.DB.prepare(`select count(*) as n from ${table} where ${column} = ?`).bind(value).first<{ n: number }>())
    ?.n;

/** Each create route, with two different bodies and how to count what it made. */
async function routes(api: Client) {
  const wf = (await api.post("/v1/workflows", definition())).body.id as string;
  return [
    {
      name: "workflow",
      path: "/v1/workflows",
      body: definition(1),
      other: definition(2),
      count: (tenant: string) => rows("workflows", "tenant_id", tenant),
    },
    {
      name: "monitor",
      path: "/v1/monitors",
      body: monitor("a"),
      other: monitor("b"),
      count: (tenant: string) => rows("monitors", "tenant_id", tenant),
    },
    {
      name: "schedule",
      path: `/v1/workflows/${wf}/schedules`,
      body: { cron: "0 9 * * *" },
      other: { cron: "0 10 * * *" },
      count: () => rows("schedules", "workflow_id", wf),
    },
  ];
}

describe("Idempotency-Key on create routes", () => {
  it("replays the same object for the same key and body, refuses another body, and never makes two", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    for (const r of await routes(api)) {
      const before = await r.count(tenantId);
      const first = await api.post(r.path, r.body, { "idempotency-key": `k-${r.name}` });
      expect(first.status, r.name).toBe(201);
      const again = await api.post(r.path, r.body, { "idempotency-key": `k-${r.name}` });
      expect(again.status, r.name).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.headers.get("location")).toBe(first.headers.get("location"));
      expect(again.body.id).toBe(first.body.id);
      if (r.name === "monitor") expect(again.body.webhook_secret).toBe(first.body.webhook_secret);
      const other = await api.post(r.path, r.other, { "idempotency-key": `k-${r.name}` });
      expect(other.status, r.name).toBe(422);
      expect(other.body).toMatchObject({ code: "idempotency_key_reused", resource_id: first.body.id });
      expect(await r.count(tenantId), r.name).toBe((before ?? 0) + 1);
      // Without a key, every POST is a new object.
      expect((await api.post(r.path, r.body)).body.id).not.toBe(first.body.id);
    }
  });

  it("makes one object from concurrent duplicates; the others replay it or are told it is in flight", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => api.post("/v1/workflows", definition(), { "idempotency-key": "burst" })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.every((s) => [200, 201, 409].includes(s))).toBe(true);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.headers.get("retry-after")).toBe("1");
    expect(new Set(answers.filter((a) => a.status < 300).map((a) => a.body.id)).size).toBe(1);
    expect(await rows("workflows", "tenant_id", tenantId)).toBe(1);
  });

  it("scopes keys per route, frees a key whose request was refused, and says when the object is gone", async () => {
    const api = client((await createTenant()).token);
    const k = { "idempotency-key": "shared" };
    expect((await api.post("/v1/workflows", definition(), k)).status).toBe(201);
    expect((await api.post("/v1/monitors", monitor(), k)).status).toBe(201);

    const bad = await api.post("/v1/workflows", { name: "bad", nodes: [] }, { "idempotency-key": "fix-me" });
    expect(bad.status).toBe(400);
    expect((await api.post("/v1/workflows", definition(), { "idempotency-key": "fix-me" })).status).toBe(201);

    expect((await api.post("/v1/workflows", definition(), { "idempotency-key": "x".repeat(256) })).body.code).toBe(
      "invalid_idempotency_key",
    );

    const made = await api.post("/v1/workflows", definition(3), { "idempotency-key": "then-deleted" });
    await api.del(`/v1/workflows/${made.body.id}`);
    const gone = await api.post("/v1/workflows", definition(3), { "idempotency-key": "then-deleted" });
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ code: "idempotent_resource_gone", resource_id: made.body.id });
  });
});

describe("Idempotency-Key on publishing a version (PUT /v1/workflows/:id)", () => {
  const versions = async (api: Client, wf: string) =>
    ((await api.get(`/v1/workflows/${wf}/versions`)).body.data as { version: number }[]).map((v) => v.version);

  it("publishes once per key: a retry answers the version the first request published, not an identical v+1", async () => {
    const api = client((await createTenant()).token);
    const wf = (await api.post("/v1/workflows", definition(1))).body.id as string;
    const k = { "idempotency-key": "publish-2" };
    const first = await api.put(`/v1/workflows/${wf}`, definition(2), k);
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(first.body).toMatchObject({ id: wf, version: 2, latest_version: 2, changed: true });
    // Someone else publishes meanwhile; the retry still answers its own version, and says which is the latest.
    expect((await api.put(`/v1/workflows/${wf}`, definition(4))).body.version).toBe(3);
    const again = await api.put(`/v1/workflows/${wf}`, definition(2), k);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual({ ...first.body, latest_version: 3 });
    expect(await versions(api, wf)).toEqual([3, 2, 1]);

    const other = await api.put(`/v1/workflows/${wf}`, definition(5), k);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
    // The key is bound to the workflow too.
    const wf2 = (await api.post("/v1/workflows", definition(1))).body.id as string;
    expect((await api.put(`/v1/workflows/${wf2}`, definition(2), k)).body.code).toBe("idempotency_key_reused");
    expect(await versions(api, wf)).toEqual([3, 2, 1]);
    expect(await versions(api, wf2)).toEqual([1]);
  });

  it("publishes one version from racing copies, and frees a key whose workflow does not exist", async () => {
    const api = client((await createTenant()).token);
    const wf = (await api.post("/v1/workflows", definition(1))).body.id as string;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => api.put(`/v1/workflows/${wf}`, definition(2), { "idempotency-key": "race" })),
    );
    expect(answers.every((a) => [200, 409].includes(a.status))).toBe(true);
    expect(new Set(answers.filter((a) => a.status === 200).map((a) => a.body.version))).toEqual(new Set([2]));
    expect(await versions(api, wf)).toEqual([2, 1]);

    const missing = "wf_00000000000000000000000000";
    const k = { "idempotency-key": "not-there-yet" };
    expect((await api.put(`/v1/workflows/${missing}`, definition(2), k)).body.code).toBe("workflow_not_found");
    expect((await api.put(`/v1/workflows/${missing}`, definition(2), k)).body.code).toBe("workflow_not_found");
  });

  it("takes over a key whose request died before publishing, and publishes once", async () => {
    const { tenantId, token } = await createTenant();
    const api = client(token);
    const wf = (await api.post("/v1/workflows", definition(1))).body.id as string;
    const k = { "idempotency-key": "died" };
    // A request that claimed the key a minute ago (past the in-flight lease) and died before its batch ran.
    const body = definition(2);
    const first = await api.put(`/v1/workflows/${wf}`, body, k);
    await env.DB.prepare(
      "update create_requests set resource_id = 'pub_dead', completed_at = null, created_at = ? where tenant_id = ? and key = 'died'",
    )
      .bind(Date.now() - 60_000, tenantId)
      .run();
    await env.DB.prepare("delete from workflow_versions where workflow_id = ? and version = 2").bind(wf).run();
    await env.DB.prepare("update workflows set latest_version = 1 where id = ?").bind(wf).run();
    const taken = await api.put(`/v1/workflows/${wf}`, body, k);
    expect(taken.status).toBe(200);
    expect(taken.body).toEqual(first.body);
    expect((await api.put(`/v1/workflows/${wf}`, body, k)).headers.get("idempotent-replayed")).toBe("true");
    expect(await versions(api, wf)).toEqual([2, 1]);
  });
});

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

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, target, type Client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function hooks(k: string) {
  return ((await (await fetch(target(`/_hooks/${k}`))).json()) as { deliveries: any[] }).deliveries;
}

async function makeMonitor(
  api: Client,
  k: string,
  opts: { url: string; fail?: number; cooldown?: number; failure_threshold?: number; check?: Record<string, unknown> },
) {
  const res = await api.post("/v1/monitors", {
    name: `m-${k}`,
    check: opts.check ?? { kind: "http", url: opts.url, timeout_ms: 2000 },
    interval_seconds: 60,
    failure_threshold: opts.failure_threshold ?? 2,
    recovery_threshold: 1,
    alert: { webhook_url: target(`/hooks/${k}`), cooldown_seconds: opts.cooldown ?? 3600 },
  });
  expect(res.status).toBe(201);
  expect(res.body.webhook_secret).toMatch(/^whsec_/);
  await fetch(target(`/_hooks/${k}`), {
    method: "POST",
    body: JSON.stringify({ secret: res.body.webhook_secret, fail: opts.fail ?? 0 }),
  });
  return res.body;
}

const setUrl = (api: Client, id: string, url: string) =>
  api.raw("PATCH", `/v1/monitors/${id}`, { check: { kind: "http", url, timeout_ms: 2000 } });
const monitor = async (api: Client, id: string) => (await api.get(`/v1/monitors/${id}`)).body;

describe("monitors", () => {
  it("goes down after the failure threshold, alerts once with a verifiable signature, and always advances next_check_at", async () => {
    const api = client((await createTenant()).token);
    const k = key("down");
    const m = await makeMonitor(api, k, { url: target(`/status/200/${k}`) });
    expect(m.status).toBe("unknown");
    let t = Date.parse(m.next_check_at);
    await tick(t);
    expect(await monitor(api, m.id)).toMatchObject({ status: "up", next_check_at: new Date(t + MINUTE).toISOString() });

    await setUrl(api, m.id, target(`/status/500/${k}`));
    t += MINUTE;
    await tick(t);
    expect(await monitor(api, m.id)).toMatchObject({
      status: "up",
      consecutive_failures: 1,
      next_check_at: new Date(t + MINUTE).toISOString(),
    });
    expect(await hooks(k)).toEqual([]);
    t += MINUTE;
    await tick(t);
    expect(await monitor(api, m.id)).toMatchObject({ status: "down", consecutive_failures: 2 });
    const [delivery, ...more] = await hooks(k);
    expect(more).toEqual([]);
    expect(delivery.verified).toBe(true);
    expect(delivery.body).toMatchObject({ type: "monitor.down", monitor: { id: m.id }, error: "HTTP 500" });
    const [alert] = (await api.get(`/v1/monitors/${m.id}/alerts`)).body.data;
    expect(alert).toMatchObject({ kind: "down", attempts: 1, last_error: null });
    expect(alert.sent_at).not.toBeNull();
    expect(alert.delivered_at).not.toBeNull();
    const checks = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(checks.map((c: any) => c.ok)).toEqual([false, false, true]);
  });

  it("sends one alert per cooldown while a monitor flaps", async () => {
    const api = client((await createTenant()).token);
    const k = key("flap");
    const m = await makeMonitor(api, k, { url: target(`/status/500/${k}`), failure_threshold: 1, cooldown: 600 });
    let t = Date.parse(m.next_check_at);
    for (let i = 0; i < 6; i++) {
      await setUrl(api, m.id, target(`/status/${i % 2 === 0 ? 500 : 200}/${k}`));
      await tick(t);
      t += MINUTE;
    }
    expect((await monitor(api, m.id)).status).toBe("up");
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down"]);
    // Past the cooldown (600 s after the first alert was sent), the next change alerts again.
    t = Date.parse(m.next_check_at) + 11 * MINUTE;
    await setUrl(api, m.id, target(`/status/500/${k}`));
    await tick(t);
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down", "monitor.down"]);
  });

  it("retries alert delivery with backoff until the receiver takes it", async () => {
    const api = client((await createTenant()).token);
    const k = key("retry");
    const m = await makeMonitor(api, k, { url: target(`/status/503/${k}`), failure_threshold: 1, fail: 2 });
    const t = Date.parse(m.next_check_at);
    await tick(t);
    let [alert] = (await api.get(`/v1/monitors/${m.id}/alerts`)).body.data;
    expect(alert).toMatchObject({ attempts: 1, delivered_at: null, last_error: "HTTP 503" });
    const firstRetry = Date.parse(alert.next_attempt_at);
    expect(firstRetry - Date.parse(alert.sent_at)).toBeGreaterThanOrEqual(30_000);
    await tick(firstRetry);
    [alert] = (await api.get(`/v1/monitors/${m.id}/alerts`)).body.data;
    expect(alert.attempts).toBe(2);
    await tick(Date.parse(alert.next_attempt_at));
    [alert] = (await api.get(`/v1/monitors/${m.id}/alerts`)).body.data;
    expect(alert).toMatchObject({ attempts: 3, last_error: null });
    expect(alert.delivered_at).not.toBeNull();
    const deliveries = await hooks(k);
    expect(deliveries).toHaveLength(3);
    expect(deliveries.every((d) => d.verified)).toBe(true);
    expect(new Set(deliveries.map((d) => d.headers["webhook-id"])).size).toBe(1);
  });

  it("keeps checking a monitor whose check crashes, and never checks one monitor twice in a tick", async () => {
    const api = client((await createTenant()).token);
    const k = key("crash");
    const m = await makeMonitor(api, k, { url: target(`/status/200/${k}`) });
    // A check config the code cannot run (as a bad deploy or a hand edit could leave it).
    await env.DB.prepare('update monitors set "check" = ? where id = ?')
      .bind(JSON.stringify({ kind: "teleport" }), m.id)
      .run();
    const t = Date.parse(m.next_check_at);
    await Promise.all([tick(t), tick(t)]);
    const after = await monitor(api, m.id);
    expect(after.next_check_at).toBe(new Date(t + MINUTE).toISOString());
    const checks = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ ok: false });
    expect(checks[0].error).toMatch(/^check crashed/);
    await setUrl(api, m.id, target(`/status/200/${k}`));
    await tick(t + MINUTE);
    expect((await api.get(`/v1/monitors/${m.id}/checks`)).body.data.map((c: any) => c.ok)).toEqual([true, false]);
  });

  it("runs due checks concurrently so a slow target does not hold up the rest", async () => {
    const api = client((await createTenant()).token);
    const k = key("slow");
    const slow = await makeMonitor(api, `${k}-slow`, { url: target(`/slow/${k}?ms=1500`) });
    const fast = [];
    for (let i = 0; i < 3; i++)
      fast.push(await makeMonitor(api, `${k}-${i}`, { url: target(`/status/200/${k}-${i}`) }));
    const started = Date.now();
    await tick(Math.max(...[slow, ...fast].map((m) => Date.parse(m.next_check_at))));
    expect(Date.now() - started).toBeLessThan(1500 * 2);
    for (const m of fast) {
      const [check] = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
      expect(check.ok).toBe(true);
      expect(check.latency_ms).toBeLessThan(1000);
    }
    expect((await api.get(`/v1/monitors/${slow.id}/checks`)).body.data[0].latency_ms).toBeGreaterThanOrEqual(1500);
  });

  it("checks a workflow by running it", async () => {
    const api = client((await createTenant()).token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "probe",
        nodes: [{ id: "a", kind: "transform", config: { expression: "input.x > 0 ? 'ok' : $error('negative')" } }],
      })
    ).body.id;
    const k = key("wf");
    const m = await makeMonitor(api, k, {
      url: "",
      check: { kind: "workflow", workflow_id: wf, input: { x: -1 } },
      failure_threshold: 1,
    });
    await tick(Date.parse(m.next_check_at));
    const [check] = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(check.ok).toBe(false);
    expect(check.error).toMatch(/ failed: failed nodes: a$/);
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down"]);
  });

  it("validates input and hides other tenants' monitors", async () => {
    const api = client((await createTenant()).token);
    const bad = await api.post("/v1/monitors", {
      name: "x",
      check: { kind: "http", url: "ftp://x" },
      interval_seconds: 5,
      alert: { webhook_url: "nope" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual([
      "alert.webhook_url",
      "check.url",
      "interval_seconds",
    ]);
    const m = await makeMonitor(api, key("iso"), { url: target("/status/200/iso") });
    expect((await api.get(`/v1/monitors/${m.id}`)).body.webhook_secret).toBeUndefined();
    const other = client((await createTenant()).token);
    expect((await other.get(`/v1/monitors/${m.id}`)).status).toBe(404);
    expect((await other.get(`/v1/monitors/${m.id}/checks`)).status).toBe(404);
    expect((await other.del(`/v1/monitors/${m.id}`)).status).toBe(404);
    expect((await other.get("/v1/monitors")).body.data).toEqual([]);
  });
});

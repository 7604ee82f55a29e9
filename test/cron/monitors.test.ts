import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, mailbox, target, targetCalls, type Client } from "../support/api";
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

    await setUrl(api, m.id, target(`/status/404/${k}`));
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
    expect(delivery.body).toMatchObject({ type: "monitor.down", monitor: { id: m.id }, error: "HTTP 404" });
    const [alert] = (await api.get(`/v1/monitors/${m.id}/alerts`)).body.data;
    expect(alert).toMatchObject({ kind: "down", attempts: 1, last_error: null });
    expect(alert.sent_at).not.toBeNull();
    expect(alert.delivered_at).not.toBeNull();
    const checks = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(checks.map((c: any) => c.ok)).toEqual([false, false, true]);
  });

  it("sends one alert per cooldown and kind while a monitor flaps: a recovery is never swallowed by a down alert", async () => {
    const api = client((await createTenant()).token);
    const k = key("flap");
    const m = await makeMonitor(api, k, { url: target(`/status/404/${k}`), failure_threshold: 1, cooldown: 600 });
    let t = Date.parse(m.next_check_at);
    for (let i = 0; i < 6; i++) {
      await setUrl(api, m.id, target(`/status/${i % 2 === 0 ? 404 : 200}/${k}`));
      await tick(t);
      t += MINUTE;
    }
    expect((await monitor(api, m.id)).status).toBe("up");
    // The first down and the first recovery are both told; the flaps after them fall inside each kind's cooldown.
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down", "monitor.up"]);
    // Past the cooldown (600 s after the first down alert was sent), the next down alerts again.
    t = Date.parse(m.next_check_at) + 11 * MINUTE;
    await setUrl(api, m.id, target(`/status/404/${k}`));
    await tick(t);
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down", "monitor.up", "monitor.down"]);
  });

  it("alerts by email as well as by webhook, each address once per transition, under the same cooldown per kind", async () => {
    const api = client((await createTenant()).token);
    const k = key("mail");
    const [ops, lead] = [`ops-${k}@example.com`, `lead-${k}@example.com`];
    const res = await api.post("/v1/monitors", {
      name: `Shop & Co ${k}`,
      check: { kind: "http", url: target(`/status/404/${k}`), timeout_ms: 2000 },
      interval_seconds: 60,
      failure_threshold: 1,
      alert: { webhook_url: target(`/hooks/${k}`), email: [ops, lead], cooldown_seconds: 600 },
    });
    expect(res.status).toBe(201);
    await fetch(target(`/_hooks/${k}`), { method: "POST", body: JSON.stringify({ secret: res.body.webhook_secret }) });
    let t = Date.parse(res.body.next_check_at);
    for (let i = 0; i < 4; i++) {
      await setUrl(api, res.body.id, target(`/status/${i % 2 === 0 ? 404 : 200}/${k}`));
      await tick(t);
      t += MINUTE;
    }
    // Down, up, down, up: inside the cooldown only the first of each kind is told, on both channels.
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down", "monitor.up"]);
    for (const addr of [ops, lead]) {
      const mail = await mailbox(addr, 2);
      expect(mail.map((m) => m.subject)).toEqual([
        `[Edgeflow] Shop & Co ${k} is down`,
        `[Edgeflow] Shop & Co ${k} is up again`,
      ]);
      expect(mail[0]!.text).toContain("What the check saw: HTTP 404");
      expect(mail[0]!.headers["x-edgeflow-monitor"]).toBe(res.body.id);
    }
    const alerts = (await api.get(`/v1/monitors/${res.body.id}/alerts`)).body.data;
    expect(alerts.map((a: any) => `${a.kind}:${a.channel}`).sort()).toEqual([
      "down:email",
      "down:webhook",
      "up:email",
      "up:webhook",
    ]);
    expect(alerts.every((a: any) => a.delivered_at !== null && a.attempts === 1)).toBe(true);

    // An address that is not one is refused when the monitor is saved.
    const bad = await api.post("/v1/monitors", {
      name: "bad",
      check: { kind: "http", url: target(`/status/200/${k}`) },
      interval_seconds: 60,
      alert: { email: ["ops@example.com", "ops at example"] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: "alert.email[1]", message: "must be an email address" }]);
    const none = await api.post("/v1/monitors", {
      name: "none",
      check: { kind: "http", url: target(`/status/200/${k}`) },
      interval_seconds: 60,
      alert: { cooldown_seconds: 60 },
    });
    expect(none.body.errors).toEqual([
      { path: "alert", message: "an alert needs a webhook_url, an email list, an acknowledge workflow, or several" },
    ]);
  });

  it("retries alert delivery with backoff until the receiver takes it", async () => {
    const api = client((await createTenant()).token);
    const k = key("retry");
    const m = await makeMonitor(api, k, { url: target(`/status/410/${k}`), failure_threshold: 1, fail: 2 });
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

  it("checks 250 due monitors in one tick (more than one checker object's share), each exactly once", async () => {
    const api = client((await createTenant()).token);
    const k = key("many");
    const ids = await Promise.all(
      Array.from({ length: 250 }, async (_, i) => {
        const res = await api.post("/v1/monitors", {
          name: `many-${i}`,
          check: { kind: "http", url: target(`/status/200/${k}-${i}`), timeout_ms: 5000 },
          interval_seconds: 300,
          alert: { webhook_url: target(`/hooks/${k}`) },
        });
        return res.body.id as string;
      }),
    );
    const due = Math.max(
      ...(await Promise.all(ids.map(async (id) => Date.parse((await monitor(api, id)).next_check_at)))),
    );
    await tick(due);
    const checks = await Promise.all(ids.map(async (id) => (await api.get(`/v1/monitors/${id}/checks`)).body.data));
    expect(checks.map((c: any[]) => c.length)).toEqual(Array(250).fill(1));
    expect(checks.every((c: any[]) => c[0].outcome === "up")).toBe(true);
    // A second tick in the same minute finds none of them due again.
    await tick(due);
    expect((await api.get(`/v1/monitors/${ids[0]}/checks`)).body.data).toHaveLength(1);
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

describe("content monitors", () => {
  const removalCheck = (url: string) => ({
    kind: "http",
    url,
    timeout_ms: 2000,
    expect: {
      body_contains: "Launch notes",
      body_not_contains: "[removed]",
      json: "data.children[0].data.removed_by_category = null",
    },
  });

  it("sees a post removed while its page still answers 200, and reports each failed assertion", async () => {
    const api = client((await createTenant()).token);
    const k = key("removal");
    const url = target(`/posts/${k}.json`);
    const m = await makeMonitor(api, k, { url, failure_threshold: 1, check: removalCheck(url) });
    let t = Date.parse(m.next_check_at);
    await tick(t);
    expect((await monitor(api, m.id)).status).toBe("up");
    await fetch(target(`/posts/${k}/remove`), { method: "POST" });
    t += MINUTE;
    await tick(t);
    expect((await monitor(api, m.id)).status).toBe("down");
    const [latest, first] = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(first).toMatchObject({ ok: true, error: null });
    expect(latest.ok).toBe(false);
    expect(latest.error).toBe(
      'expect: body_contains "Launch notes": not found; body_not_contains "[removed]": found; json "data.children[0].data.removed_by_category = null": false',
    );
    expect((await hooks(k)).map((d) => d.body.type)).toEqual(["monitor.down"]);
  });

  it("refuses an expect.json that is not JSONata when the monitor is saved", async () => {
    const api = client((await createTenant()).token);
    const check = { ...removalCheck(target("/posts/x.json")), expect: { json: "data.children[" } };
    const res = await api.post("/v1/monitors", {
      name: "bad",
      check,
      interval_seconds: 60,
      alert: { webhook_url: target("/hooks/x") },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: "check.expect.json", message: "must be a valid JSONata expression" }]);
  });
});

describe("monitor registration", () => {
  const body = (url: string, extra: Record<string, unknown> = {}) => ({
    name: "dup",
    check: { kind: "http", url, timeout_ms: 2000 },
    interval_seconds: 60,
    alert: { webhook_url: target("/hooks/dup") },
    ...extra,
  });

  it("answers 409 with the existing id for a second monitor on the same check, unless allow_duplicate", async () => {
    const api = client((await createTenant()).token);
    const url = target(`/status/200/${key("dup")}`);
    const first = await api.post("/v1/monitors", body(url));
    expect(first.status).toBe(201);
    const second = await api.post("/v1/monitors", body(url, { name: "another name, same check" }));
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ code: "monitor_exists", monitor_id: first.body.id });
    expect((await api.post("/v1/monitors", body(url, { allow_duplicate: true }))).status).toBe(201);
    // Moving another monitor onto the same check is refused the same way.
    const other = await api.post("/v1/monitors", body(target(`/status/200/${key("other")}`)));
    const moved = await api.raw("PATCH", `/v1/monitors/${other.body.id}`, {
      check: { kind: "http", url, timeout_ms: 2000 },
    });
    expect(moved.status).toBe(409);
    expect(moved.body.monitor_id).toBe(first.body.id);
    // Another tenant may watch the same URL.
    expect((await client((await createTenant()).token).post("/v1/monitors", body(url))).status).toBe(201);
  });

  it("stops checking a monitor at expires_at, and retention deletes it then", async () => {
    const api = client((await createTenant()).token);
    const k = key("expiring");
    const expires = Date.now() + 2 * MINUTE;
    const m = (
      await api.post("/v1/monitors", body(target(`/status/200/${k}`), { expires_at: new Date(expires).toISOString() }))
    ).body;
    expect(m.expires_at).toBe(new Date(expires).toISOString());
    await tick(Date.now());
    expect((await api.get(`/v1/monitors/${m.id}/checks`)).body.data).toHaveLength(1);
    await tick(expires + MINUTE);
    expect((await api.get(`/v1/monitors/${m.id}`)).status).toBe(404);
  });

  it("reports a site answering 429 and 403 as unreachable, never down; a removed page is down", async () => {
    const api = client((await createTenant()).token);
    const k = key("blocked");
    const check = (url: string, extra: Record<string, unknown> = {}) => ({
      kind: "http",
      url,
      timeout_ms: 2000,
      ...extra,
    });
    const ua = { "user-agent": "edgeflow-monitor/1.0 (+https://edgeflow.example)" };
    const limited = await makeMonitor(api, `${k}-429`, {
      url: "",
      failure_threshold: 1,
      check: check(target(`/status/429/${k}-429`)),
    });
    const forbidden = await makeMonitor(api, `${k}-403`, {
      url: "",
      failure_threshold: 1,
      check: check(target(`/page/${k}`)),
    });
    const page = await makeMonitor(api, `${k}-page`, {
      url: "",
      failure_threshold: 1,
      check: check(target(`/page/${k}`), { headers: ua, expect: { body_contains: "Tom & Jerry's spring launch" } }),
    });
    let t = Date.parse(page.next_check_at);
    for (let i = 0; i < 4; i++, t += MINUTE) await tick(t);
    // Blocked and rate-limited checks saw nothing: unreachable after unreachable_threshold (3), never down.
    for (const m of [limited, forbidden]) {
      expect(await monitor(api, m.id)).toMatchObject({
        status: "unreachable",
        consecutive_failures: 0,
        consecutive_unreachable: 4,
        unreachable_threshold: 3,
      });
    }
    expect((await hooks(`${k}-429`)).map((d) => [d.body.type, d.body.error])).toEqual([
      ["monitor.unreachable", "HTTP 429"],
    ]);
    expect((await hooks(`${k}-403`)).map((d) => d.body.type)).toEqual(["monitor.unreachable"]);
    const checks = (await api.get(`/v1/monitors/${forbidden.id}/checks`)).body.data;
    expect(checks.map((c: any) => c.outcome)).toEqual(Array(4).fill("unreachable"));
    // With a User-Agent the page is readable, and its escaped, wrapped title matches the plain one.
    expect(await monitor(api, page.id)).toMatchObject({ status: "up" });
    expect((await targetCalls(`page-${k}`)).calls.length).toBe(8);

    await fetch(target(`/page/${k}/remove`), { method: "POST" });
    await tick(t);
    expect(await monitor(api, page.id)).toMatchObject({ status: "down", consecutive_failures: 1 });
    expect((await hooks(`${k}-page`)).map((d) => [d.body.type, d.body.error])).toEqual([["monitor.down", "HTTP 404"]]);
    expect((await api.get(`/v1/monitors/${page.id}/checks`)).body.data[0]).toMatchObject({
      ok: false,
      outcome: "gone",
    });
  });
});

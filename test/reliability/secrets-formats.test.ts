// Gate 8: no plaintext key or secret in D1, event logs or log lines; alerts verify with the standardwebhooks package
// (stale, future and tampered ones do not); /metrics parses with a Prometheus text parser; every outbound call
// carries a valid traceparent.
import { env, exports } from "cloudflare:workers";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhook } from "../../src/lib/webhooks";
import { client, createTenant, run, target, targetCalls, waitFor } from "../support/api";
import { MINUTE, tick } from "../support/cron";
import { reportGate } from "../support/gates";

// Every line any code in this isolate logs (the Worker and the Durable Objects share it) is kept and searched.
const lines: string[] = [];
const originals = {
  log: console.log,
  info: console.info,
  warn: console.warn,
  error: console.error,
  debug: console.debug,
};
beforeAll(() => {
  for (const level of Object.keys(originals) as (keyof typeof originals)[]) {
    console[level] = (...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      originals[level](...args);
    };
  }
});
afterAll(() => Object.assign(console, originals));

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-0[01]$/;

async function dumpD1(): Promise<{ tables: number; rows: number; text: string }> {
  const tables = (
    await env.DB.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
    ).all<{ name: string }>()
  ).results;
  let rows = 0;
  let text = "";
  for (const { name } of tables) {
    const all = (await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results;
    rows += all.length;
    text += JSON.stringify(all);
  }
  return { tables: tables.length, rows, text };
}

describe("gate: secrets and formats", () => {
  it("keeps keys and secrets out of D1, events and logs; signs, parses and traces as promised", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const k = `gate8-${Date.now()}`;
    const secret = `gate-secret-${crypto.randomUUID()}`;
    const whsec = `whsec_${btoa(crypto.randomUUID())}`;
    expect((await api.put("/v1/secrets/GATE_SECRET", { value: secret })).status).toBe(200);
    expect((await api.put("/v1/secrets/GATE_WHSEC", { value: whsec })).status).toBe(200);

    // A run that sends the secret out (echoed back), calls a model, and registers a monitor with a secret.
    const { executionId } = await run(api, {
      name: "uses secrets",
      nodes: [
        {
          id: "echo",
          kind: "http",
          config: {
            method: "POST",
            url: target(`/echo/${k}`),
            headers: { authorization: "Bearer {{ secrets.GATE_SECRET }}" },
            body: { token: "{{ secrets.GATE_SECRET }}" },
          },
        },
        {
          id: "side",
          kind: "http",
          needs: ["echo"],
          config: { method: "POST", url: target(`/side-effect/${k}-side`) },
        },
        {
          id: "ask",
          kind: "llm",
          needs: ["echo"],
          config: { tier: "mid", messages: [{ role: "user", content: `[[key=${k}]] summarise` }] },
        },
        {
          id: "watch",
          kind: "create_monitor",
          needs: ["ask"],
          config: {
            name: "gate",
            url: target(`/status/200/${k}-node-check`),
            interval_seconds: 3600,
            webhook_url: target(`/hooks/${k}-node`),
            webhook_secret: "{{ secrets.GATE_WHSEC }}",
          },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(JSON.stringify(done.nodes[0].output)).toContain("[redacted]");

    // A monitor that goes down and alerts; its receiver verifies with the standardwebhooks package.
    const created = (
      await api.post("/v1/monitors", {
        name: "gate",
        check: { kind: "http", url: target(`/status/410/${k}-check`), timeout_ms: 2000 },
        interval_seconds: 60,
        failure_threshold: 1,
        alert: { webhook_url: target(`/hooks/${k}`) },
      })
    ).body;
    const rotated = (await api.post(`/v1/monitors/${created.id}/secret`)).body.webhook_secret as string;
    await fetch(target(`/_hooks/${k}`), { method: "POST", body: JSON.stringify({ secret: rotated }) });
    await tick(Date.parse(created.next_check_at));
    await tick(Date.parse(created.next_check_at) + MINUTE);
    const deliveries = (
      (await (await fetch(target(`/_hooks/${k}`))).json()) as {
        deliveries: { verified: boolean; headers: Record<string, string>; body: unknown }[];
      }
    ).deliveries;
    expect(deliveries.length).toBeGreaterThanOrEqual(1);
    expect(deliveries.every((d) => d.verified)).toBe(true);
    // The same receiver library refuses a stale, a future and a tampered message.
    const body = JSON.stringify(deliveries[0]?.body);
    const now = Math.floor(Date.now() / 1000);
    const refused = (headers: Record<string, string>, b = body) => {
      try {
        new Webhook(rotated).verify(b, headers);
        return false;
      } catch {
        return true;
      }
    };
    expect(refused(await signWebhook(rotated, "msg_fresh", now, body))).toBe(false);
    expect(refused(await signWebhook(rotated, "msg_stale", now - 600, body))).toBe(true);
    expect(refused(await signWebhook(rotated, "msg_future", now + 600, body))).toBe(true);
    expect(refused(await signWebhook(rotated, "msg_tampered", now, body), body.replace("down", "up!"))).toBe(true);

    // No plaintext anywhere: D1 (every table), the event log, every log line.
    // `ef_<12 hex>_<secret>`: the secret is base64url and may itself hold "_", so it is cut at its fixed offset.
    const token_secret = /^ef_[0-9a-f]{12}_(.{43})$/.exec(token)?.[1];
    if (!token_secret) throw new Error(`unexpected API key shape: ${token.length} chars`);
    const needles: Record<string, string> = {
      "API key": token,
      "API key secret part": token_secret,
      "tenant secret": secret,
      "webhook secret (tenant secret)": whsec,
      "webhook secret (created)": created.webhook_secret,
      "webhook secret (rotated)": rotated,
      OPENAI_API_KEY: "sk-local-test",
      OPENROUTER_API_KEY: "or-local-test",
      ANTHROPIC_API_KEY: "ak-local-test",
      SECRETS_KEY: (env as unknown as { SECRETS_KEY: string }).SECRETS_KEY,
      METRICS_TOKEN: "metrics-test-token",
    };
    const d1 = await dumpD1();
    const events = (await api.get(`/v1/executions/${executionId}/events?limit=1000`)).body.data as unknown[];
    const eventText = JSON.stringify(events) + JSON.stringify(done);
    const found: string[] = [];
    for (const [what, needle] of Object.entries(needles)) {
      if (d1.text.includes(needle)) found.push(`${what} in D1`);
      if (eventText.includes(needle)) found.push(`${what} in events`);
      if (lines.some((l) => l.includes(needle))) found.push(`${what} in logs`);
    }
    expect(lines.length).toBeGreaterThan(10);

    // /metrics in the Prometheus text format, read by a Prometheus parser.
    const metricsRes = await exports.default.fetch("http://edgeflow.test/metrics", {
      headers: { authorization: "Bearer metrics-test-token" },
    });
    expect(metricsRes.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(await metricsRes.text()) as {
      name: string;
      type: string;
      metrics: unknown[];
    }[];
    expect(families.map((f) => f.name)).toEqual(
      expect.arrayContaining(["edgeflow_http_requests_total", "edgeflow_executions", "edgeflow_node_attempts_total"]),
    );
    expect(
      families.every(
        (f) => ["COUNTER", "GAUGE", "HISTOGRAM", "SUMMARY", "UNTYPED"].includes(f.type) && Array.isArray(f.metrics),
      ),
    ).toBe(true);

    // Every outbound call this gate caused: http nodes, the model, monitor checks, alert webhooks.
    const outbound = [
      ...(await targetCalls(`${k}-side`)).calls.map((c) => c.traceparent),
      ...(await targetCalls(`${k}-check`)).calls.map((c) => c.traceparent),
      ...(
        (await (await fetch(`${env.OPENAI_URL}/_calls/${k}`)).json()) as {
          calls: { headers: Record<string, string> }[];
        }
      ).calls.map((c) => c.headers.traceparent),
      ...deliveries.map((d) => d.headers.traceparent),
      (done.nodes[0].output.body.headers as Record<string, string>).traceparent,
    ] as (string | null | undefined)[];
    const untraced = outbound.filter((t) => !TRACEPARENT.test(t ?? ""));
    await reportGate(
      "secrets-and-formats",
      `${Object.keys(needles).length} secrets x (D1 dump: ${d1.tables} tables / ${d1.rows} rows, ${events.length} events, ${lines.length} log lines): ${found.length} plaintext; ${deliveries.length} alerts verified by standardwebhooks, stale/future/tampered refused; /metrics: ${families.length} families parsed; ${outbound.length} outbound calls, ${untraced.length} without a valid traceparent`,
    );
    expect(found).toEqual([]);
    expect(untraced).toEqual([]);
    expect(outbound.length).toBeGreaterThanOrEqual(5);
  });
});

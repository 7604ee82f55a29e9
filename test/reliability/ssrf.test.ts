// Gate 7: SSRF. Private, loopback, link-local, CGNAT, multicast and metadata targets in IPv4 and IPv6, their
// decimal/octal/hex and IPv4-mapped spellings, local names, other schemes, credentials, and redirect chains into
// private space, against every surface that fetches a tenant-chosen URL, at save time and at run time.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { resolveTarget } from "../../src/nodes/llm/resolve";
import { callModel } from "../../src/nodes/llm/call";
import { client, createTenant, target, waitFor } from "../support/api";
import { MINUTE, tick } from "../support/cron";
import { reportGate } from "../support/gates";

/** Direct targets: refused when saved (static URLs) and when a template renders them at run time. */
function directTargets(p: number): string[] {
  const ipv4 = [
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.254",
    "127.0.0.2",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "240.0.0.1",
  ].map((h) => `http://${h}:${p}/`);
  // 127.0.0.2, 10.0.0.1, 169.254.169.254 and 192.168.0.1 spelled the ways parsers disagree on.
  const encoded = [
    "2130706434",
    "0177.0.0.2",
    "0x7f000002",
    "0x7f.0.0.2",
    "127.2",
    "017700000002",
    "167772161",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "3232235521",
    "0x7F.2",
  ].map((h) => `http://${h}:${p}/`);
  const ipv6 = [
    "::1",
    "::",
    "0:0:0:0:0:0:0:1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.2",
    "::ffff:7f00:2",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "::127.0.0.2",
    "fec0::1",
  ].map((h) => `http://[${h}]:${p}/`);
  const names = [
    "localhost",
    "LOCALHOST",
    "foo.localhost",
    "metadata.google.internal",
    "db.internal",
    "printer.local",
    "router.lan",
    "x.home.arpa",
    "metadata",
    "localhost.",
  ].map((h) => `http://${h}:${p}/`);
  const schemes = [
    "file:///etc/passwd",
    "ftp://example.com/",
    "gopher://example.com/",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "ws://example.com/",
    "dict://127.0.0.2:" + p + "/",
  ];
  const credentials = [
    "http://user:pass@example.com/",
    "http://user@example.com/",
    `http://admin:admin@127.0.0.2:${p}/`,
  ];
  return [...ipv4, ...encoded, ...ipv6, ...names, ...schemes, ...credentials];
}

/** Public-looking (allowed) first hops that redirect into private space: only run time can see them. */
function redirectTargets(p: number): string[] {
  const hop = (to: string, status = 302) => target(`/redirect?key=ssrf&status=${status}&to=${encodeURIComponent(to)}`);
  return [
    hop(`http://127.0.0.2:${p}/`),
    hop(`http://[::1]:${p}/`),
    hop("http://169.254.169.254/latest/meta-data/", 301),
    hop(`http://localhost:${p}/`, 307),
    hop(`http://2130706434:${p}/`, 308),
    hop("file:///etc/passwd"),
    hop(hop(`http://[::ffff:7f00:2]:${p}/`)),
    hop(hop(hop(`http://10.0.0.1:${p}/`, 303))),
  ];
}

const REFUSED = new Set(["ssrf_refused", "invalid_url", "invalid_config"]);

describe("gate: SSRF", () => {
  it("refuses every private target on every surface, at save and at run time, with no connection made", async () => {
    const trap = async () => (await (await fetch(target("/_trap"))).json()) as { port: number; connections: number };
    const { port } = await trap();
    const direct = directTargets(port);
    const redirects = redirectTargets(port);
    const api = client((await createTenant()).token);
    const leaks: string[] = [];
    let checks = 0;
    const expectRefused = (what: string, refused: boolean) => {
      checks++;
      if (!refused) leaks.push(what);
    };

    // Save time: static URLs in definitions, monitor checks and alert webhooks; LLM base URLs when resolved.
    for (const url of direct) {
      const wf = await api.post("/v1/workflows", { name: "ssrf", nodes: [{ id: "h", kind: "http", config: { url } }] });
      expectRefused(
        `http node saved ${url}`,
        wf.status === 400 && wf.body.errors.some((e: any) => e.path === "nodes[0].config.url"),
      );
      const node = await api.post("/v1/workflows", {
        name: "ssrf",
        nodes: [
          { id: "m", kind: "create_monitor", config: { name: "m", url, interval_seconds: 3600, webhook_url: url } },
        ],
      });
      expectRefused(
        `create_monitor saved ${url}`,
        node.status === 400 && node.body.errors.some((e: any) => e.path === "nodes[0].config.url"),
      );
      const mon = await api.post("/v1/monitors", {
        name: "m",
        check: { kind: "http", url },
        interval_seconds: 60,
        alert: { webhook_url: url },
      });
      const paths = mon.status === 400 ? mon.body.errors.map((e: any) => e.path) : [];
      expectRefused(`monitor check saved ${url}`, paths.includes("check.url"));
      expectRefused(`alert webhook saved ${url}`, paths.includes("alert.webhook_url"));
      const resolved = resolveTarget(
        {
          MODEL_MID: "openai:gpt-5-mini",
          OPENAI_API_KEY: "k",
          OPENAI_BASE_URL: url,
          ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
        },
        { tier: "mid" },
      );
      expectRefused(`LLM base URL configured ${url}`, !resolved.ok && resolved.code === "ssrf_refused");
    }

    // Run time: URLs rendered from input (direct and redirecting) for http and create_monitor nodes.
    const templated = await api.post("/v1/workflows", {
      name: "ssrf at run time",
      nodes: [
        { id: "h", kind: "http", retry: { max_attempts: 2, initial_delay_ms: 1 }, config: { url: "{{ input.url }}" } },
        {
          id: "m",
          kind: "create_monitor",
          config: { name: "m", url: "{{ input.url }}", interval_seconds: 3600, webhook_url: target("/hooks/ssrf-m") },
        },
        {
          id: "w",
          kind: "create_monitor",
          config: {
            name: "w",
            url: target("/status/200/ssrf-w"),
            interval_seconds: 3600,
            webhook_url: "{{ input.url }}",
          },
        },
      ],
    });
    const started = await Promise.all(
      [...direct, ...redirects].map(async (url) => ({
        url,
        id: (await api.post(`/v1/workflows/${templated.body.id}/executions`, { input: { url } })).body.id as string,
      })),
    );
    for (const { url, id } of started) {
      const done = await waitFor(api, id);
      const byId = Object.fromEntries(done.nodes.map((n: any) => [n.node_id, n]));
      const isRedirect = redirects.includes(url);
      expectRefused(
        `http node ran ${url}`,
        byId.h.status === "failed" && REFUSED.has(byId.h.error.code) && byId.h.attempts === 1,
      );
      // create_monitor vets the URLs it registers; a redirecting check URL is registered and refused when checked
      // (below).
      if (!isRedirect) {
        expectRefused(`create_monitor ran ${url}`, byId.m.status === "failed" && REFUSED.has(byId.m.error.code));
        expectRefused(
          `create_monitor webhook ran ${url}`,
          byId.w.status === "failed" && REFUSED.has(byId.w.error.code),
        );
      }
    }

    // Run time, LLM: a provider call to each base URL (direct and redirecting) through the real call path.
    for (const url of [...direct, ...redirects]) {
      try {
        await callModel(
          env,
          {
            provider: "openai",
            model: "gpt-5-mini",
            sdk: "openai",
            facts: { family: "openai-reasoning", reasoning: true, output_limit: 128_000 },
            baseUrl: url,
            apiKey: "k",
          },
          {
            messages: [{ role: "user", content: "hi" }],
            max_tokens: 5,
            json: false,
            idempotencyKey: `ssrf:${crypto.randomUUID()}`,
            attempt: 1,
            signal: AbortSignal.timeout(5_000),
          },
        );
        expectRefused(`LLM call to ${url}`, false);
      } catch (err) {
        expectRefused(`LLM call to ${url}`, (err as { code?: string }).code === "ssrf_refused");
      }
    }

    // Run time, monitors and alerts: checks and alert deliveries through redirects into private space.
    for (const url of redirects) {
      const mon = (
        await api.post("/v1/monitors", {
          name: "r",
          check: { kind: "http", url, timeout_ms: 2000 },
          interval_seconds: 60,
          failure_threshold: 1,
          // A refused check could not look: it counts as unreachable, and this one alerts at the first.
          unreachable_threshold: 1,
          alert: { webhook_url: url },
        })
      ).body;
      const at = Date.parse(mon.next_check_at);
      await tick(at);
      await tick(at + MINUTE);
      const checksDone = (await api.get(`/v1/monitors/${mon.id}/checks`)).body.data as {
        ok: boolean;
        outcome: string;
        error: string | null;
      }[];
      expectRefused(
        `monitor check via ${url}`,
        checksDone.length > 0 && checksDone.every((c) => !c.ok && c.outcome === "unreachable"),
      );
      const alerts = (await api.get(`/v1/monitors/${mon.id}/alerts`)).body.data as { delivered_at: string | null }[];
      expectRefused(`alert webhook via ${url}`, alerts.length > 0 && alerts.every((a) => a.delivered_at === null));
    }

    const { connections } = await trap();
    const targets = direct.length + redirects.length;
    await reportGate(
      "ssrf",
      `${targets} targets (${direct.length} direct, ${redirects.length} redirect chains) x http nodes, LLM base URLs, monitors, alert webhooks: ${checks} checks, ${checks - leaks.length} refused (${(((checks - leaks.length) / checks) * 100).toFixed(1)}%), ${connections} outbound connections`,
    );
    expect(targets).toBeGreaterThanOrEqual(60);
    expect(leaks).toEqual([]);
    expect(connections).toBe(0);
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";

describe("SSRF guard in the engine", () => {
  it("refuses private targets at save time, naming the field", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post("/v1/workflows", {
      name: "bad",
      nodes: [
        { id: "meta", kind: "http", config: { url: "http://169.254.169.254/latest/meta-data/" } },
        {
          id: "mon",
          kind: "create_monitor",
          config: { name: "m", url: "https://example.com", interval_seconds: 60, webhook_url: "http://10.0.0.7/hook" },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.path)).toEqual(["nodes[0].config.url", "nodes[1].config.webhook_url"]);
    const monitor = await api.post("/v1/monitors", {
      name: "m",
      check: { kind: "http", url: "http://[::ffff:7f00:2]/" },
      interval_seconds: 60,
      alert: { webhook_url: "http://192.168.1.10/" },
    });
    expect(monitor.status).toBe(400);
    expect(monitor.body.errors.map((e: any) => e.path)).toEqual(["check.url", "alert.webhook_url"]);
  });

  it("refuses a templated private URL at run time, without retrying", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(
      api,
      { name: "t", nodes: [{ id: "h", kind: "http", config: { url: "{{ input.url }}" } }] },
      { url: "http://2130706434/" },
    );
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "ssrf_refused" } });
  });

  it("re-checks every redirect hop: a public URL cannot bounce into private space", async () => {
    const api = client((await createTenant()).token);
    const into = await run(api, {
      name: "r",
      nodes: [
        {
          id: "h",
          kind: "http",
          config: { url: target(`/redirect?to=${encodeURIComponent("http://169.254.169.254/latest/")}`) },
        },
      ],
    });
    const refused = await waitFor(api, into.executionId);
    expect(refused.nodes[0]).toMatchObject({ status: "failed", error: { code: "ssrf_refused" } });
    expect(refused.nodes[0].error.message).toContain("169.254.169.254");
    const fine = await run(api, {
      name: "ok",
      nodes: [
        {
          id: "h",
          kind: "http",
          config: { url: target(`/redirect?status=303&to=${encodeURIComponent(target("/echo/landed"))}`) },
        },
      ],
    });
    const followed = await waitFor(api, fine.executionId);
    expect(followed.nodes[0].output.body.path).toBe("/echo/landed");
  });
});

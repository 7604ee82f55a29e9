import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor, type Client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

let n = 0;
const idp = (path: string, body?: unknown) =>
  fetch(target(`/oauth/${path}`), body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });

/** A client at the fake identity provider, and the tenant's connection to it. */
async function connect(api: Client, opts: { grant?: string; refresh_token?: string; secret?: string } = {}) {
  const id = `client${Date.now()}x${++n}`;
  await idp("_clients", { client_id: id, client_secret: "s3cret", refresh_token: opts.refresh_token });
  const name = `idp-${n}`;
  const res = await api.put(`/v1/connections/${name}`, {
    grant: opts.grant ?? "client_credentials",
    token_url: target("/oauth/token"),
    client_id: id,
    client_secret: opts.secret ?? "s3cret",
    scope: "orders:write",
    ...(opts.refresh_token ? { refresh_token: opts.refresh_token } : {}),
  });
  expect(res.status).toBe(201);
  return { id, name };
}

const stats = async (id: string) =>
  (await (await idp(`_clients/${id}`)).json()) as {
    token_requests: number;
    performed: Record<string, number>;
    refused: number;
  };

const callApi = (connection: string, method = "GET", path = "/oauth/api/me") => ({
  name: "call",
  nodes: [
    {
      id: "call",
      kind: "http",
      retry: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 10, jitter: false },
      config: { url: target(path), method, connection },
    },
  ],
});

describe("OAuth2 connections", () => {
  it("are saved with their secrets sealed, shown without them, replaced, and deleted; bad ones are refused with the path", async () => {
    const api = client((await createTenant()).token);
    const { name } = await connect(api);
    const shown = (await api.get(`/v1/connections/${name}`)).body;
    expect(shown).toMatchObject({ name, grant: "client_credentials", status: "unused", last_error: null });
    expect(JSON.stringify(shown)).not.toContain("s3cret");
    expect((await api.get("/v1/connections")).body.data.map((c: any) => c.name)).toEqual([name]);

    const noRefresh = await api.put(`/v1/connections/${name}`, {
      grant: "refresh_token",
      token_url: target("/oauth/token"),
      client_id: "x",
      client_secret: "y",
    });
    expect(noRefresh.status).toBe(400);
    expect(noRefresh.body.errors).toEqual([
      { path: "refresh_token", message: "the refresh_token grant needs a refresh_token" },
    ]);
    const metadata = await api.put(`/v1/connections/${name}`, {
      grant: "client_credentials",
      token_url: "http://169.254.169.254/token",
      client_id: "x",
      client_secret: "y",
    });
    expect(metadata.status).toBe(400);
    expect(metadata.body.errors[0].path).toBe("token_url");
    expect((await api.put("/v1/connections/Bad Name", {})).body.code).toBe("validation_failed");

    expect((await api.raw("DELETE", `/v1/connections/${name}`)).status).toBe(204);
    expect((await api.get(`/v1/connections/${name}`)).status).toBe(404);
    const gone = await waitFor(api, (await run(api, callApi(name))).executionId);
    expect(gone.nodes[0].error).toMatchObject({ code: "connection_not_found" });
  });

  it("gives http nodes a bearer token, fetched once and reused until it expires", async () => {
    const api = client((await createTenant()).token);
    const { id, name } = await connect(api);
    for (let i = 0; i < 3; i++) {
      const done = await waitFor(api, (await run(api, callApi(name))).executionId);
      expect(done.status).toBe("succeeded");
      expect(done.nodes[0].output.body).toEqual({ client_id: id });
    }
    expect((await stats(id)).token_requests).toBe(1);
    expect((await api.get(`/v1/connections/${name}`)).body.status).toBe("ok");
  });

  it("makes exactly one token request for 1,000 concurrent calls that meet an expired token, and performs each POST once", async () => {
    const api = client((await createTenant()).token);
    const { id, name } = await connect(api);
    expect((await waitFor(api, (await run(api, callApi(name))).executionId)).status).toBe("succeeded");
    // The token dies early (the DO still thinks it good) and the next token request is slow, so calls pile up on it.
    await idp(`_clients/${id}/expire`, {});
    await idp(`_clients/${id}/delay`, { ms: 400 });
    const wf = (
      await api.post("/v1/workflows", {
        name: "orders",
        nodes: [
          {
            id: "orders",
            kind: "map",
            config: {
              items: "input.items",
              max_concurrency: 100,
              node: {
                kind: "http",
                retry: { max_attempts: 1 },
                config: {
                  url: target("/oauth/api/orders"),
                  method: "POST",
                  connection: name,
                  body: { n: "{{ item }}" },
                },
              },
            },
          },
        ],
      })
    ).body;
    const items = Array.from({ length: 100 }, (_, i) => i);
    const started = await Promise.all(
      Array.from(
        { length: 10 },
        async () => (await api.post(`/v1/workflows/${wf.id}/executions`, { input: { items } })).body.id as string,
      ),
    );
    const done = await Promise.all(started.map((ex) => waitFor(api, ex, undefined, 120_000)));
    expect(done.map((d) => d.status)).toEqual(Array(10).fill("succeeded"));
    const s = await stats(id);
    expect(s.token_requests).toBe(2);
    expect(Object.keys(s.performed)).toHaveLength(1000);
    expect(Object.values(s.performed).filter((c) => c !== 1)).toEqual([]);
    expect(s.refused).toBeGreaterThan(0);
  }, 180_000);

  it("fails the node with the token endpoint's own words, shows it on the connection and in /health, and recovers when fixed", async () => {
    const api = client((await createTenant()).token);
    const { id, name } = await connect(api, { secret: "wrong" });
    const failed = await waitFor(api, (await run(api, callApi(name))).executionId);
    expect(failed.nodes[0].error).toMatchObject({
      code: "connection_failed",
      message: expect.stringContaining("answered 401 invalid_client (client authentication failed)"),
    });
    // Not retryable: a wrong secret stays wrong.
    expect(failed.nodes[0].attempts).toBe(1);
    expect((await api.get(`/v1/connections/${name}`)).body).toMatchObject({
      status: "failing",
      last_error: expect.stringContaining("invalid_client"),
    });
    const health = (await api.get("/health")).body;
    expect(health.checks.connections.failing).toBeGreaterThanOrEqual(1);

    await api.put(`/v1/connections/${name}`, {
      grant: "client_credentials",
      token_url: target("/oauth/token"),
      client_id: id,
      client_secret: "s3cret",
    });
    // A 503 from the token endpoint is worth the node's retry.
    await idp(`_clients/${id}/fail`, { statuses: [503] });
    const ok = await waitFor(api, (await run(api, callApi(name))).executionId);
    expect(ok.status).toBe("succeeded");
    expect(ok.nodes[0].attempts).toBe(2);
    expect((await api.get(`/v1/connections/${name}`)).body).toMatchObject({ status: "ok", last_error: null });
  });

  it("uses the refresh token the server rotated, not the one it was given", async () => {
    const api = client((await createTenant()).token);
    const { id, name } = await connect(api, { grant: "refresh_token", refresh_token: "rt_first" });
    expect((await waitFor(api, (await run(api, callApi(name))).executionId)).status).toBe("succeeded");
    await idp(`_clients/${id}/expire`, {});
    // The server rotated rt_first away: only the new one works now.
    expect((await waitFor(api, (await run(api, callApi(name))).executionId)).status).toBe("succeeded");
    expect((await stats(id)).token_requests).toBe(2);
  });

  it("gives monitor checks the token, and a 401 gets a fresh one rather than an unreachable check", async () => {
    const api = client((await createTenant()).token);
    const { id, name } = await connect(api);
    const m = (
      await api.post("/v1/monitors", {
        name: `api ${id}`,
        check: { kind: "http", url: target("/oauth/api/me"), connection: name },
        interval_seconds: 60,
        alert: { webhook_url: target(`/hooks/${id}`) },
      })
    ).body;
    // A check naming a connection the tenant does not have could never see its site: refused when saved.
    const unknown = await api.post("/v1/monitors", {
      name: "typo",
      check: { kind: "http", url: target("/oauth/api/me"), connection: "no-such-idp" },
      interval_seconds: 60,
      alert: { webhook_url: target(`/hooks/${id}`) },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body).toMatchObject({
      code: "connection_not_found",
      errors: [{ path: "check.connection", message: "no connection named no-such-idp" }],
    });
    let t = Date.parse(m.next_check_at);
    await tick(t);
    expect((await api.get(`/v1/monitors/${m.id}`)).body.status).toBe("up");
    await idp(`_clients/${id}/expire`, {});
    t += MINUTE;
    await tick(t);
    const checks = (await api.get(`/v1/monitors/${m.id}/checks`)).body.data;
    expect(checks.map((c: any) => c.outcome)).toEqual(["up", "up"]);
    expect((await stats(id)).token_requests).toBe(2);
  });
});

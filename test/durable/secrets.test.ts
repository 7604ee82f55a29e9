import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";

const VALUE = "s3cr3t-token-value-9b1f";

/** Every text column of every table, as one string: what a D1 dump would show. */
async function d1Dump(): Promise<string> {
  const tables = (
    await env.DB.prepare("select name from sqlite_master where type = 'table'").all<{ name: string }>()
  ).results.map((r) => r.name);
  const parts: string[] = [];
  for (const t of tables.filter((x) => !x.startsWith("_cf") && x !== "sqlite_sequence"))
    parts.push(JSON.stringify((await env.DB.prepare(`select * from "${t}"`).all()).results));
  return parts.join("\n");
}

describe("secrets", () => {
  it("are encrypted at rest, usable as {{ secrets.NAME }}, and never appear in outputs, events, logs or D1", async () => {
    // The Worker and its Durable Objects run in this isolate, so their log lines pass through these spies.
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    const spies = [
      vi.spyOn(console, "log").mockImplementation(capture),
      vi.spyOn(console, "error").mockImplementation(capture),
      vi.spyOn(console, "warn").mockImplementation(capture),
    ];
    const { token } = await createTenant();
    const api = client(token);
    const put = await api.put("/v1/secrets/API_TOKEN", { value: VALUE });
    expect(put.status).toBe(200);
    expect(JSON.stringify(put.body)).not.toContain(VALUE);
    expect((await api.get("/v1/secrets")).body.data.map((s: any) => s.name)).toEqual(["API_TOKEN"]);

    const { executionId } = await run(api, {
      name: "uses a secret",
      nodes: [
        {
          id: "call",
          kind: "http",
          config: { url: target("/echo/secret"), headers: { authorization: "Bearer {{ secrets.API_TOKEN }}" } },
        },
        {
          id: "peek",
          kind: "transform",
          needs: ["call"],
          config: { expression: "nodes.call.output.body.headers.authorization" },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    // The echo server saw the real header; what the engine kept is redacted.
    expect(done.nodes[1].output).toBe("Bearer [redacted]");
    const everything = JSON.stringify([
      done,
      (await api.get(`/v1/executions/${executionId}/events?limit=1000`)).body,
      await d1Dump(),
    ]);
    expect(everything).not.toContain(VALUE);
    expect(everything).toContain("Bearer [redacted]");
    for (const spy of spies) spy.mockRestore();
    expect(lines.some((l) => l.includes('"msg":"request"'))).toBe(true);
    expect(lines.filter((l) => l.includes(VALUE))).toEqual([]);
  });

  it("fail clearly when missing, and belong to one tenant", async () => {
    const owner = client((await createTenant()).token);
    await owner.put("/v1/secrets/ONLY_MINE", { value: "owner-only-value" });
    const other = client((await createTenant()).token);
    const { executionId } = await run(other, {
      name: "x",
      nodes: [
        { id: "call", kind: "http", config: { url: target("/echo/x"), headers: { "x-k": "{{ secrets.ONLY_MINE }}" } } },
      ],
    });
    const done = await waitFor(other, executionId);
    expect(done.nodes[0]).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "secret_not_found", message: "no secret named ONLY_MINE (PUT /v1/secrets/:name)" },
    });
    expect((await other.get("/v1/secrets")).body.data).toEqual([]);
    expect((await other.del("/v1/secrets/ONLY_MINE")).status).toBe(404);
    expect((await owner.put("/v1/secrets/lower_case", { value: "x" })).status).toBe(400);
    expect((await owner.del("/v1/secrets/ONLY_MINE")).status).toBe(204);
  });

  it("a ciphertext moved to another tenant does not decrypt", async () => {
    const a = await createTenant();
    const b = await createTenant();
    await client(a.token).put("/v1/secrets/KEY", { value: "tenant-a-value" });
    // Copy A's sealed row to B under the same name: the associated data (tenant:name) no longer matches.
    await env.DB.prepare(
      "insert into secrets (tenant_id, name, ciphertext, iv, created_at, updated_at) select ?, name, ciphertext, iv, created_at, updated_at from secrets where tenant_id = ?",
    )
      .bind(b.tenantId, a.tenantId)
      .run();
    const { executionId } = await run(client(b.token), {
      name: "steal",
      nodes: [{ id: "c", kind: "http", config: { url: target("/echo/x"), headers: { "x-k": "{{ secrets.KEY }}" } } }],
    });
    const done = await waitFor(client(b.token), executionId);
    expect(done.nodes[0].status).toBe("failed");
    expect(JSON.stringify(done)).not.toContain("tenant-a-value");
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { revokeApiKey } from "../../src/db/repo";
import { client, createTenant } from "../support/api";

describe("authentication", () => {
  it("requires a valid, unrevoked bearer key on every /v1 route", async () => {
    const { token, keyId } = await createTenant();
    const cases: [string | null, Record<string, string>, string][] = [
      [null, {}, "missing_credentials"],
      [null, { authorization: "Basic dXNlcjpwYXNz" }, "invalid_credentials"],
      [null, { authorization: "Bearer not-a-key" }, "invalid_credentials"],
      [
        null,
        { authorization: `Bearer ${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}` },
        "invalid_credentials",
      ],
      [null, { authorization: `Bearer ef_000000000000_${"A".repeat(43)}` }, "invalid_credentials"],
    ];
    for (const [tok, headers, code] of cases) {
      for (const path of ["/v1/workflows", "/v1/executions", "/v1/executions/ex_01M84GY93SW03JPZRQEMCTART0"]) {
        const res = await client(tok).get(path, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.body.code).toBe(code);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
      }
    }
    expect((await client(token).get("/v1/workflows")).status).toBe(200);
    await revokeApiKey(openDb(env.DB).db, keyId, Date.now());
    const revoked = await client(token).get("/v1/workflows");
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe("revoked_credentials");
  });

  it("gives every response a request id, echoing a well-formed one", async () => {
    const res = await client(null).get("/v1/workflows", { "x-request-id": "trace-123" });
    expect(res.headers.get("x-request-id")).toBe("trace-123");
    expect(res.body.request_id).toBe("trace-123");
    const generated = await client(null).get("/nowhere", { "x-request-id": "bad id with spaces" });
    expect(generated.status).toBe(404);
    expect(generated.body.code).toBe("route_not_found");
    expect(generated.headers.get("x-request-id")).toMatch(/^req_[0-9A-Z]{26}$/);
  });
});

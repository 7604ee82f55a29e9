import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant } from "../support/api";

const APP = "https://app.example.com";

describe("CORS", () => {
  it("answers preflights for listed origins and exposes responses only to the tenant that listed them", async () => {
    const owner = await createTenant();
    const other = await createTenant();
    const put = await client(owner.token).put("/v1/cors", { origins: [APP, "http://localhost:5173"] });
    expect(put.body).toEqual({ origins: [APP, "http://localhost:5173"] });
    expect((await client(owner.token).put("/v1/cors", { origins: ["not an origin"] })).status).toBe(400);

    const pre = await exports.default.fetch("http://edgeflow.test/v1/workflows", {
      method: "OPTIONS",
      headers: { origin: APP, "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(APP);
    expect(pre.headers.get("access-control-allow-headers")).toContain("idempotency-key");
    const stranger = await exports.default.fetch("http://edgeflow.test/v1/workflows", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(stranger.status).toBe(403);
    expect(stranger.headers.get("access-control-allow-origin")).toBeNull();

    const mine = await client(owner.token).get("/v1/workflows", { origin: APP });
    expect(mine.headers.get("access-control-allow-origin")).toBe(APP);
    expect(mine.headers.get("access-control-expose-headers")).toContain("ratelimit-remaining");
    const theirs = await client(other.token).get("/v1/workflows", { origin: APP });
    expect(theirs.status).toBe(200);
    expect(theirs.headers.get("access-control-allow-origin")).toBeNull();
    expect((await client(owner.token).get("/v1/cors")).body.origins).toEqual(["http://localhost:5173", APP]);
  });
});

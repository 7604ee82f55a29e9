import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src/worker";
import { client } from "../support/api";

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

describe("OpenAPI document", () => {
  it("documents every route, and every documented route exists", async () => {
    const res = await client(null).get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const served = [
      ...new Set(
        app.routes
          .filter((r) => METHODS.has(r.method) && !r.path.includes("*"))
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`),
      ),
    ];
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it("describes bodies and queries with the schemas the routes validate with", async () => {
    const doc = (await client(null).get("/openapi.json")).body;
    const create = doc.paths["/v1/workflows"].post;
    const schema = create.requestBody.content["application/json"].schema;
    expect(schema.required).toEqual(expect.arrayContaining(["name", "nodes"]));
    expect(schema.properties.nodes.maxItems).toBe(1000);
    const list = doc.paths["/v1/executions"].get.parameters.map((p: any) => p.name);
    expect(list).toEqual([
      "workflow_id",
      "version",
      "status",
      "created_after",
      "created_before",
      "tag",
      "metadata",
      "cursor",
      "limit",
    ]);
    expect(doc.paths["/v1/executions"].get.parameters[2].schema.enum).toContain("timed_out");
    expect(doc.paths["/health"].get.security).toEqual([]);
    expect(doc.components.schemas.Problem.required).toContain("code");
  });

  it("serves a self-contained reference page", async () => {
    const page = await exports.default.fetch("http://edgeflow.test/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('fetch("/openapi.json")');
    expect(html).not.toMatch(/<script[^>]+src=/);
  });
});

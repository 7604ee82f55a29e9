import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../src/engine/dag";
import { kindSpecs } from "../../src/nodes";
import { EXAMPLES } from "../../src/routes/openapi-examples";
import { OPERATIONS } from "../../src/routes/openapi-operations";
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
    // Each node kind with its own config: a generated client knows an http node needs a url.
    const kinds = schema.properties.nodes.items.oneOf.map((v: any) => v.properties.kind.const).sort();
    expect(kinds).toEqual(["create_monitor", "http", "llm", "map", "sleep", "transform", "wait_for_event", "workflow"]);
    const http = schema.properties.nodes.items.oneOf.find((v: any) => v.properties.kind.const === "http");
    expect(http.properties.config.required).toEqual(["url"]);
    // The same schema for editors, public at /schemas/workflow.json.
    const editor = await client(null).get("/schemas/workflow.json");
    expect(editor.status).toBe(200);
    expect(editor.headers.get("content-type")).toBe("application/schema+json");
    expect(editor.body.properties.nodes.items).toEqual(schema.properties.nodes.items);
    expect((await client(null).get("/schemas/template.json")).body.properties.definition.$id).toBeUndefined();
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

  it("shows examples for the main routes, each one a body the route accepts", async () => {
    const doc = (await client(null).get("/openapi.json")).body;
    expect(Object.keys(EXAMPLES).length).toBeGreaterThanOrEqual(7);
    for (const [key, example] of Object.entries(EXAMPLES)) {
      const [method, path] = key.split(" ") as [string, string];
      expect(doc.paths[path][method].requestBody.content["application/json"].example, key).toEqual(example);
      const op = OPERATIONS.find((o) => o.method === method && o.path === path);
      const parsed = op?.body?.safeParse(example);
      expect(parsed?.success ? [] : parsed?.error.issues, key).toEqual([]);
    }
    const def = validateDefinition(EXAMPLES["post /v1/workflows"], kindSpecs);
    expect(def.ok ? [] : def.errors).toEqual([]);
  });

  it("serves the reference page with Scalar's bundle from this origin, under a nonce CSP", async () => {
    const page = await exports.default.fetch("http://edgeflow.test/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = page.headers.get("content-security-policy") as string;
    const nonce = /'nonce-(\w+)'/.exec(csp)?.[1] as string;
    expect(csp).toContain("connect-src 'self'");
    const html = await page.text();
    expect(html).toContain("Scalar.createApiReference('#app'");
    expect(html).toContain('"url": "/openapi.json"');
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1] as string);
    expect(scripts.some((a) => a.includes('src="/docs-assets/scalar-standalone.js"'))).toBe(true);
    // Every script is ours: from this origin, or inline with this response's nonce.
    for (const attrs of scripts) expect(attrs.includes(`nonce="${nonce}"`) || /src="\//.test(attrs)).toBe(true);
    expect(html).not.toMatch(/https?:\/\/(?!edgeflow\.test)/);
    expect((await exports.default.fetch("http://edgeflow.test/docs")).headers.get("content-security-policy")).not.toBe(
      csp,
    );
  });
});

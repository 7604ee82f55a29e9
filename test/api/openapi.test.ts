import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../src/engine/dag";
import { kindSpecs } from "../../src/nodes";
import { EXAMPLES } from "../../src/routes/openapi-examples";
import { OPERATIONS } from "../../src/routes/openapi-operations";
import { app } from "../../src/worker";
import { Validator } from "@cfworker/json-schema";
import { client, createTenant } from "../support/api";

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
    expect(kinds).toEqual([
      "agent",
      "approval",
      "create_monitor",
      "email",
      "http",
      "llm",
      "map",
      "sleep",
      "transform",
      "wait_for_event",
      "workflow",
    ]);
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

  it("declares every success body and the headers clients rely on, and the bodies are what the routes send", async () => {
    const doc = (await client(null).get("/openapi.json")).body;
    const untyped: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>))
      for (const [method, op] of Object.entries(ops))
        for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
          if (!/^2/.test(status) || status === "204") continue;
          const schema = r.content?.["application/json"]?.schema;
          // A node output is any value; everything else declares its JSON schema or its other media types.
          if (path.endsWith("/output")) continue;
          const media = Object.keys(r.content ?? {});
          if (media.length && !media.includes("application/json")) continue;
          if (!schema || Object.keys(schema).length === 0) untyped.push(`${method} ${path} ${status}`);
        }
    expect(untyped).toEqual([]);
    const start = doc.paths["/v1/workflows/{id}/executions"].post;
    expect(start.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual([
      "path:id",
      "header:Idempotency-Key",
      "header:Prefer",
    ]);
    expect(Object.keys(start.responses["201"].headers)).toEqual([
      "X-Request-Id",
      "RateLimit-Limit",
      "RateLimit-Remaining",
      "RateLimit-Reset",
      "Server-Timing",
    ]);
    expect(start.responses["429"].headers["Retry-After"]).toBeDefined();
    const stream = doc.paths["/v1/executions/{id}/stream"].get.parameters.map((p: any) => p.name);
    expect(stream).toContain("Last-Event-ID");
    // What is not JSON says what it is.
    const media = (path: string) => Object.keys(doc.paths[path].get.responses["200"].content ?? {});
    expect(media("/docs")).toEqual(["text/html"]);
    expect(media("/metrics")).toEqual(["text/plain"]);
    expect(media("/v1/executions/{id}/stream")).toEqual(["text/event-stream"]);
    expect(media("/v1/results/export")).toEqual(["application/x-ndjson", "text/csv"]);

    // The check every test response goes through is strict: a renamed field fails it.
    const view = doc.paths["/v1/executions/{id}"].get.responses["200"].content["application/json"].schema;
    const validator = new Validator(view, "2020-12", false);
    const { token } = await createTenant();
    const api = client(token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "c",
        nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
      })
    ).body.id;
    const real = (await api.get(`/v1/executions/${(await api.post(`/v1/workflows/${wf}/executions`, {})).body.id}`))
      .body;
    expect(validator.validate(real).valid).toBe(true);
    const { workflow_id, ...renamed } = real;
    expect(validator.validate({ ...renamed, workflowId: workflow_id }).valid).toBe(false);
    const node = { ...real.nodes[0], status: "done" };
    expect(validator.validate({ ...real, nodes: [node] }).valid).toBe(false);
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

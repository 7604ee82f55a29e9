import { describe, expect, it } from "vitest";
import { createTenant } from "../support/api";
import { typedClient } from "../support/typed";

describe("typed client", () => {
  it("drives a workflow from creation to result through hono/client's typed routes", async () => {
    const api = typedClient((await createTenant()).token);
    const definition = {
      name: "typed",
      nodes: [{ id: "a", kind: "transform", config: { expression: "input.x * 2" } }],
    };
    const created = await api.v1.workflows.$post({}, { init: { body: JSON.stringify(definition) } });
    expect(created.status).toBe(201);
    const wf = await created.json();
    expect(wf.version).toBe(1);
    const started = await api.v1.workflows[":id"].executions.$post(
      { param: { id: wf.id } },
      { init: { body: JSON.stringify({ input: { x: 21 } }) } },
    );
    const { id } = await started.json();
    let view = await (await api.v1.executions[":id"].$get({ param: { id } })).json();
    for (let i = 0; i < 200 && view.status !== "succeeded"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      view = await (await api.v1.executions[":id"].$get({ param: { id } })).json();
    }
    expect(view.status).toBe("succeeded");
    expect(view.output).toEqual({ a: 42 });
    const list = await (await api.v1.workflows.$get({ query: {} })).json();
    expect(list.data.map((w) => w.id)).toEqual([wf.id]);
  });
});

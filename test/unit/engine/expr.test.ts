import { describe, expect, it } from "vitest";
import { evaluate, render, templatesIn, UndefinedValueError, type ExprContext } from "../../../src/engine/expr";

const ctx: ExprContext = {
  input: { id: 7, tags: ["a", "b"] },
  nodes: { fetch: { status: "succeeded", output: { body: { id: "x-1", items: [1, 2, 3] } } } },
  execution: { id: "ex_1", workflow_id: "wf_1", version: 2 },
};

describe("templates", () => {
  it("keeps the type of a whole-string template and interpolates inside longer strings", async () => {
    expect(await render("{{ nodes.fetch.output.body }}", ctx)).toEqual({ id: "x-1", items: [1, 2, 3] });
    expect(await render("{{ input.id }}", ctx)).toBe(7);
    expect(
      await render("/items/{{ nodes.fetch.output.body.id }}?n={{ $count(nodes.fetch.output.body.items) }}", ctx),
    ).toBe("/items/x-1?n=3");
    expect(await render({ a: ["{{ input.tags }}", "run {{ execution.id }}"], b: 3 }, ctx)).toEqual({
      a: [["a", "b"], "run ex_1"],
      b: 3,
    });
  });

  it("treats a string that starts and ends with templates as interpolation, not one expression", async () => {
    expect(await render("{{ execution.id }}/items/{{ input.id }}", ctx)).toBe("ex_1/items/7");
  });

  it("fails loudly on a value that is not there, naming the path and the expression, instead of rendering it empty", async () => {
    await expect(render("x{{ input.nothing }}y", ctx)).rejects.toThrow(UndefinedValueError);
    await expect(render({ headers: { auth: ["{{ nodes.gone.output }}"] } }, ctx, "config")).rejects.toThrow(
      "config.headers.auth[0]: {{ nodes.gone.output }} has no value",
    );
    await expect(render("{{ input.nothing }}", ctx)).rejects.toThrow("{{ input.nothing }} has no value");
  });

  it("keeps a default written as a conditional, and renders null inside a string as empty", async () => {
    expect(await render("{{ $exists(input.nothing) ? input.nothing : 'none' }}", ctx)).toBe("none");
    expect(await render("x{{ null }}y", ctx)).toBe("xy");
  });

  it("lists every template with its path", () => {
    expect(templatesIn({ url: "http://h/{{ a }}/{{ b }}", h: { k: ["{{ c }}"] } })).toEqual([
      { path: ["url"], expression: "a" },
      { path: ["url"], expression: "b" },
      { path: ["h", "k", 0], expression: "c" },
    ]);
  });

  it("returns plain JSON from JSONata sequences", async () => {
    expect(await evaluate("nodes.fetch.output.body.items.($ * 2)", ctx)).toEqual([2, 4, 6]);
  });
});

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

describe("strict expressions: a missing value used where it would become a blank fails, naming it", () => {
  const missing = async (expression: string) => {
    const err = await evaluate(expression, ctx).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, expression).toBeInstanceOf(UndefinedValueError);
    return (err as UndefinedValueError).message;
  };

  it("in a concatenation", async () => {
    expect(await missing('"Order " & input.order_id & " at " & input.address')).toMatch(
      /^input\.order_id has no value, used in a concatenation in \{\{ "Order " & input\.order_id/,
    );
    expect(await missing('"ok " & nodes.fetch.output.body.nothing')).toContain("nodes.fetch.output.body.nothing");
  });

  it("in arithmetic and negation", async () => {
    expect(await missing("input.id + input.nothing")).toContain("input.nothing has no value, used in arithmetic");
    expect(await missing("input.nothing * 2")).toContain("input.nothing");
    expect(await missing("-input.nothing")).toContain("input.nothing");
  });

  it("as a function argument, also through ~>", async () => {
    expect(await missing("$uppercase(input.name)")).toContain("input.name has no value, used as a function argument");
    expect(await missing("input.name ~> $uppercase()")).toContain("input.name");
    expect(await missing("$string(nodes.gone.output)")).toContain("nodes.gone.output");
  });

  it("as an object member (JSONata would drop the key) and in a group-by", async () => {
    expect(await missing('{"id": input.id, "customer": input.customer}')).toContain(
      "input.customer has no value, used as an object member",
    );
    expect(await missing('nodes.fetch.output.body{"k": $$.input.nothing}')).toContain("$$.input.nothing");
  });

  it("a filter that matches nothing is missing too when it would become a blank", async () => {
    expect(await missing('"first big: " & nodes.fetch.output.body.items[$ > 10]')).toContain("used in a concatenation");
  });

  it("in a template, naming the rendered path", async () => {
    await expect(render({ text: "Order {{ input.id & '/' & input.nothing }}" }, ctx, "config")).rejects.toThrow(
      "config.text: input.nothing has no value, used in a concatenation in {{ input.id & '/' & input.nothing }}",
    );
  });

  it("keeps the explicit ways to allow absence: ??, ?:, $exists, conditions, and the aggregate functions", async () => {
    expect(await evaluate('"to " & (input.name ?? "you")', ctx)).toBe("to you");
    expect(await evaluate('"to " & (input.name ?: "you")', ctx)).toBe("to you");
    expect(await evaluate('$exists(input.name) ? "to " & input.name : "to you"', ctx)).toBe("to you");
    expect(await evaluate("$count(input.nothing) + $sum(nodes.fetch.output.body.items[$ > 10] ?? [])", ctx)).toBe(0);
    // $sum of nothing is nothing in JSONata, so using it in arithmetic is caught one step later.
    expect(await missing("1 + $sum(nodes.fetch.output.body.items[$ > 10])")).toContain(
      "$sum(nodes.fetch.output.body.items[…])",
    );
    expect(await evaluate('{"n": $count(input.nothing), "has": $exists(input.nothing)}', ctx)).toEqual({
      n: 0,
      has: false,
    });
    expect(await evaluate("$append(input.nothing, [1])", ctx)).toEqual([1]);
    expect(await evaluate('input.nothing = "x"', ctx)).toBe(false);
  });

  it("a present value passes, including an empty array, an empty string and zero", async () => {
    const c: ExprContext = { ...ctx, input: { list: [], s: "", z: 0 } };
    expect(await evaluate('"[" & input.s & "]" & $string(input.z + 1)', c)).toBe("[]1");
    expect(await evaluate('{"list": input.list}', c)).toEqual({ list: [] });
  });
});

describe("runaway expressions", () => {
  it("fails a recursion that never ends with a clear error instead of running forever", async () => {
    // A tail call runs at constant depth: counted in steps.
    const tail = evaluate("( $count := function($s) { $count($s) }; $count('x') )", ctx);
    await expect(tail).rejects.toThrow(/more than 5000000 steps without ending/);
    const deep = evaluate("( $f := function($n) { 1 + $f($n + 1) }; $f(0) )", ctx);
    await expect(deep).rejects.toThrow(/Stack overflow/);
    // A real recursion of some depth still runs.
    expect(await evaluate("( $f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(20) )", ctx)).toBe(
      2432902008176640000,
    );
  });
});

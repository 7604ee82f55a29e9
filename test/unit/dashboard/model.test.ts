import { describe, expect, it } from "vitest";
import { diffLines, pretty } from "../../../dashboard/src/model/diff";
import { fieldsOf, parseFields } from "../../../dashboard/src/model/form";
import { layout, NODE_HEIGHT } from "../../../dashboard/src/model/layout";
import { REDACTED, redact } from "../../../dashboard/src/model/redact";

describe("the node inspector's redaction", () => {
  it("hides credentials by key and by shape, and keeps secret references and ordinary values", () => {
    const config = {
      url: "https://api.example.com/x?page=2",
      headers: {
        Authorization: "Bearer abcdef123456",
        "X-Api-Key": "k-123",
        "X-Trace": "{{ secrets.TRACE_TOKEN }}",
        Accept: "application/json",
      },
      body: { note: "sk-live_0123456789abcdef", count: 3, password: ["a", "b"] },
    };
    expect(redact(config)).toEqual({
      url: "https://api.example.com/x?page=2",
      headers: {
        Authorization: REDACTED,
        "X-Api-Key": REDACTED,
        "X-Trace": "{{ secrets.TRACE_TOKEN }}",
        Accept: "application/json",
      },
      body: { note: REDACTED, count: 3, password: [REDACTED, REDACTED] },
    });
  });
});

describe("comparing two versions", () => {
  it("shows added and removed lines between definitions whatever their key order", () => {
    const a = pretty({ name: "w", nodes: [{ id: "a", kind: "transform" }] });
    const b = pretty({
      nodes: [
        { kind: "transform", id: "a" },
        { id: "b", kind: "sleep" },
      ],
      name: "w",
    });
    const d = diffLines(a, b);
    expect(d.filter((l) => l.op === "del")).toEqual([]);
    expect(d.filter((l) => l.op === "add").map((l) => l.text.trim())).toEqual([
      "},",
      "{",
      '"id": "b",',
      '"kind": "sleep"',
    ]);
    expect(d.filter((l) => l.op !== "del").map((l) => l.text)).toEqual(b);
    expect(d.filter((l) => l.op !== "add").map((l) => l.text)).toEqual(a);
  });
});

describe("the run form from input_schema", () => {
  const schema = {
    type: "object",
    required: ["name", "count"],
    properties: {
      name: { type: "string", title: "Name" },
      count: { type: "integer", default: 2 },
      ratio: { type: "number" },
      loud: { type: "boolean" },
      tone: { enum: ["warm", "cold"] },
      extra: { type: "object" },
    },
  };

  it("makes one field per property, with defaults", () => {
    expect(fieldsOf(schema)?.map((f) => [f.name, f.kind, f.required, f.initial])).toEqual([
      ["name", "string", true, ""],
      ["count", "integer", true, "2"],
      ["ratio", "number", false, ""],
      ["loud", "boolean", false, "false"],
      ["tone", "enum", false, ""],
      ["extra", "json", false, ""],
    ]);
    expect(fieldsOf({ type: "array" })).toBeNull();
    expect(fieldsOf(undefined)).toBeNull();
  });

  it("parses typed values, leaves empty optional fields out, and names each bad field", () => {
    const fields = fieldsOf(schema)!;
    expect(parseFields(fields, { name: "x", count: "3", loud: "true", tone: "warm", extra: '{"a":1}' })).toEqual({
      ok: true,
      input: { name: "x", count: 3, loud: true, tone: "warm", extra: { a: 1 } },
    });
    expect(parseFields(fields, { name: "", count: "1.5", ratio: "abc", extra: "{" })).toEqual({
      ok: false,
      errors: { name: "required", count: "expected an integer", ratio: "expected a number", extra: "expected JSON" },
    });
  });
});

describe("the graph layout", () => {
  it("places every node below the nodes it needs, and lays out 1,000 nodes", () => {
    const nodes = [{ id: "a" }, { id: "b", needs: ["a"] }, { id: "c", needs: ["a"] }, { id: "d", needs: ["b", "c"] }];
    const p = layout(nodes);
    expect(p.get("b")!.y).toBeGreaterThanOrEqual(p.get("a")!.y + NODE_HEIGHT);
    expect(p.get("d")!.y).toBeGreaterThanOrEqual(p.get("c")!.y + NODE_HEIGHT);
    expect(p.get("b")!.x).not.toBe(p.get("c")!.x);
    const big = Array.from({ length: 1000 }, (_, i) => ({ id: `n${i}`, needs: i >= 10 ? [`n${i - 10}`] : [] }));
    const q = layout(big);
    expect(q.size).toBe(1000);
    expect(q.get("n999")!.y).toBeGreaterThan(q.get("n0")!.y);
  });
});

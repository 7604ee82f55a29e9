import { Validator } from "@cfworker/json-schema";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

describe("the event protocol (/schemas/events.json)", () => {
  it("describes every event a run emits, and refuses one whose data misses a declared field", async () => {
    const schema = (await client(null).get("/schemas/events.json")).body;
    const validator = new Validator(schema, "2020-12");
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "protocol",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "{'n': 1}" } },
        {
          id: "m",
          kind: "map",
          needs: ["a"],
          config: { items: "[1, 2]", node: { kind: "transform", config: { expression: "item" } } },
        },
        { id: "bad", kind: "transform", needs: ["m"], config: { expression: "$error('no')" } },
        { id: "never", kind: "transform", needs: ["bad"], config: { expression: "1" } },
      ],
    });
    await waitFor(api, executionId);
    const events = (await api.get(`/v1/executions/${executionId}/events`)).body.data as any[];
    expect(new Set(events.map((e) => e.type))).toEqual(
      new Set([
        "execution.queued",
        "execution.started",
        "node.started",
        "node.succeeded",
        "node.progress",
        "node.failed",
        "node.skipped",
        "execution.failed",
      ]),
    );
    for (const e of events) expect(validator.validate(e).errors, e.type).toEqual([]);
    const failed = events.find((e) => e.type === "node.failed");
    const { error: _dropped, ...withoutError } = failed.data;
    expect(validator.validate({ ...failed, data: withoutError }).valid).toBe(false);
    expect(validator.validate({ ...failed, type: "node.exploded" }).valid).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../src/engine/dag";
import { validateInput } from "../../src/engine/input";
import { kindSpecs } from "../../src/nodes";
import { TEMPLATES } from "../../src/routes/templates";

describe("shipped templates", () => {
  it.each(TEMPLATES.map((t) => [t.name, t] as const))(
    "%s is a valid definition and its example input fits its schema",
    (_name, t) => {
      const r = validateDefinition(t.definition, kindSpecs);
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (r.ok && r.definition.input_schema)
        expect(validateInput(r.definition.input_schema, t.input_example)).toEqual([]);
    },
  );

  it("ships the eight pipelines", () => {
    expect(TEMPLATES.map((t) => t.name)).toEqual([
      "question-pipeline",
      "sdlc-parallel",
      "draft-and-monitor",
      "order-intake",
      "code-fix-queue",
      "chat-turn",
      "support-chat",
      "code-review",
    ]);
  });
});

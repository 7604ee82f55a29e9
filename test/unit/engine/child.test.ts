import { describe, expect, it } from "vitest";
import { CHILD_EVENT_LIKE, childEvent, childIdOf, childWait } from "../../../src/engine/child";

describe("the child-execution wait", () => {
  it("names the child in the event it waits for, and reads it back; ordinary events name no child", () => {
    expect(childWait("ex_1")).toEqual({ until: null, event: childEvent("ex_1") });
    expect(childIdOf(childEvent("ex_1"))).toBe("ex_1");
    expect(childIdOf("approved")).toBeNull();
    expect(childIdOf(null)).toBeNull();
    expect(childEvent("ex_1").startsWith(CHILD_EVENT_LIKE.replace("%", ""))).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { preferredWait } from "../../../src/lib/prefer";

describe("Prefer: wait (RFC 7240)", () => {
  it("reads wait among other preferences, caps it, and ignores what it cannot read", () => {
    expect(preferredWait("wait=10", 60)).toBe(10);
    expect(preferredWait("respond-async, wait=5", 60)).toBe(5);
    expect(preferredWait('WAIT = "7"; foo=bar', 60)).toBe(7);
    expect(preferredWait("wait=600", 60)).toBe(60);
    expect(preferredWait("wait=soon", 60)).toBeNull();
    expect(preferredWait("return=minimal", 60)).toBeNull();
    expect(preferredWait(undefined, 60)).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import { estimateTokens, historyWindow, turnAnswer, type StoredMessage } from "../../../src/engine/conversation";

const msg = (seq: number, tokens = 10): StoredMessage => ({
  seq,
  role: seq % 2 ? "user" : "assistant",
  content: `m${seq}`,
  tokens,
});
const newestFirst = (n: number, tokens = 10) => Array.from({ length: n }, (_, i) => msg(n - i, tokens));
const ok = { code: null, message: null };

describe("history window", () => {
  it("keeps the newest messages that fit, oldest first, opening on a user message", () => {
    const w = historyWindow(newestFirst(10), 35, 100);
    // 30 tokens fit three messages (8, 9, 10); the window may not open on the answer 8, so it keeps 9 and 10.
    expect(w.messages.map((m) => m.content)).toEqual(["m9", "m10"]);
    expect(w).toMatchObject({ tokens: 20, dropped: true });
  });

  it("is capped by message count as well as tokens, and takes everything when it all fits", () => {
    expect(historyWindow(newestFirst(10), 1000, 4).messages.map((m) => m.content)).toEqual(["m7", "m8", "m9", "m10"]);
    expect(historyWindow(newestFirst(4), 1000, 100)).toMatchObject({ tokens: 40, dropped: false });
    expect(historyWindow(newestFirst(4), 0, 100)).toEqual({ messages: [], tokens: 0, dropped: true });
  });

  it("estimates tokens on the safe side, a CJK character as one", () => {
    expect(estimateTokens("")).toBe(4);
    expect(estimateTokens("a".repeat(400))).toBe(104);
    expect(estimateTokens("潮汐")).toBe(6);
  });
});

describe("turn answer", () => {
  it("reads the reply of the one leaf that has one, with its summary", () => {
    expect(turnAnswer("succeeded", { turn: { reply: "hi", summary: "greeted" }, log: { n: 1 } }, ok)).toMatchObject({
      status: "ok",
      content: "hi",
      summary: "greeted",
    });
  });

  it("records empty, missing, ambiguous and failed turns with a code", () => {
    expect(turnAnswer("succeeded", { turn: { reply: "  " } }, ok)).toMatchObject({
      status: "empty",
      error_code: "empty_reply",
    });
    expect(turnAnswer("succeeded", { turn: { text: "hi" } }, ok)).toMatchObject({ status: "empty", content: null });
    expect(turnAnswer("succeeded", { a: { reply: "x" }, b: { reply: "y" } }, ok)).toMatchObject({
      status: "failed",
      error_code: "ambiguous_reply",
    });
    expect(turnAnswer("timed_out", null, ok)).toMatchObject({ status: "failed", error_code: "execution_timed_out" });
    // A reply too large for a row went to R2: the turn says so instead of "no reply".
    const ref = { $ref: "r2://executions/ex_1/turn/1", bytes: 2_000_000, sha256: "ab" };
    expect(turnAnswer("succeeded", { turn: ref }, ok)).toMatchObject({
      status: "failed",
      error_code: "reply_too_large",
      error_message: expect.stringContaining("node turn is 2000000 bytes"),
    });
    expect(turnAnswer("failed", null, { code: "node_failed", message: "failed nodes: reply" })).toMatchObject({
      error_code: "node_failed",
      error_message: "failed nodes: reply",
    });
  });
});

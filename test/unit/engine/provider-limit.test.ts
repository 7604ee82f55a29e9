import { describe, expect, it } from "vitest";
import { admitCall, limitFor, parseLimits, windowSlackMs } from "../../../src/engine/provider-limit";
import { decideRetry, retryPolicySchema } from "../../../src/engine/retry";

const W = 60_000;
const span = W + windowSlackMs(W);

describe("provider admission windows", () => {
  it("parses PROVIDER_LIMITS and names what is wrong with it, by path", () => {
    expect(parseLimits("")).toEqual({ ok: true, table: {} });
    expect(parseLimits('{"openai:gpt-5-mini": {"rpm": 500, "tpm": 200000}}')).toEqual({
      ok: true,
      table: { "openai:gpt-5-mini": { rpm: 500, tpm: 200000 } },
    });
    expect(parseLimits("{")).toEqual({ ok: false, message: "PROVIDER_LIMITS is not JSON" });
    expect(parseLimits('{"openai:gpt-5-mini": {"tpm": -1}}')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^PROVIDER_LIMITS\.openai:gpt-5-mini\.tpm: /),
    });
    expect(parseLimits('{"openai:x": {}}')).toMatchObject({ ok: false, message: expect.stringMatching(/rpm, tpm/) });
    expect(parseLimits('{"gpt-5": {"rpm": 1}}')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/provider/),
    });
  });

  it("a model's own limit wins over its provider's *, and each model keeps its own window", () => {
    const table = { "openai:*": { tpm: 10 }, "openai:gpt-5": { tpm: 99 } };
    expect(limitFor(table, "openai", "gpt-5")).toEqual({ bucket: "openai:gpt-5", limit: { tpm: 99 } });
    expect(limitFor(table, "openai", "gpt-4o")).toEqual({ bucket: "openai:gpt-4o", limit: { tpm: 10 } });
    expect(limitFor(table, "anthropic", "claude")).toBeNull();
  });

  it("lets calls in until the lane's share of the window is taken, then says when the oldest leave", () => {
    const limit = { tpm: 1000 };
    const calls = [
      { at: 0, tokens: 400 },
      { at: 10_000, tokens: 400 },
    ];
    // default and batch lanes may fill 800 of 1,000: the third waits until the first has left the window
    expect(admitCall(calls, 20_000, W, limit, 100, "batch")).toEqual({ ok: false, wait_ms: span - 20_000 + 1 });
    // interactive runs keep the last fifth
    expect(admitCall(calls, 20_000, W, limit, 100, "interactive")).toEqual({ ok: true });
    // a call that needs both to leave waits for the second
    expect(admitCall(calls, 20_000, W, limit, 700, "default")).toEqual({
      ok: false,
      wait_ms: 10_000 + span - 20_000 + 1,
    });
    // once the window has moved past them, anything up to the share fits
    expect(admitCall(calls, 10_000 + span, W, limit, 800, "batch")).toEqual({ ok: true });
  });

  it("counts requests as well as tokens, and refuses a call no wait could let in", () => {
    expect(admitCall([{ at: 0, tokens: 1 }], 1, W, { rpm: 1 }, 1, "interactive")).toEqual({
      ok: false,
      wait_ms: span,
    });
    expect(admitCall([], 0, W, { tpm: 1000 }, 900, "batch")).toEqual({
      ok: false,
      never: "this call counts 900 tokens, more than the 800 its lane (batch) may take in a window of 60 s",
    });
  });

  it("a deferred attempt is tried again after its wait whatever the policy's attempts", () => {
    const policy = retryPolicySchema.parse({ max_attempts: 1 });
    const deferred = {
      code: "provider_window_full",
      message: "",
      retryable: true,
      retry_after_ms: 1234,
      deferred: true,
    };
    expect(decideRetry(policy, 1, deferred, () => 0.5)).toEqual({ retry: true, delay_ms: 1234, deferred: true });
    expect(decideRetry(policy, 1, { ...deferred, deferred: false }, () => 0.5)).toEqual({
      retry: false,
      reason: "exhausted",
    });
  });
});

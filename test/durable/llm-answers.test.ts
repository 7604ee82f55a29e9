// What real models do to an llm node: answers cut by the token limit, conversations as data, a model that is down.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
const fast = { max_attempts: 2, initial_delay_ms: 10, backoff_coefficient: 2, max_delay_ms: 100, jitter: false };

async function calls(server: "openai" | "anthropic", k: string) {
  const base = server === "openai" ? env.OPENAI_URL : env.ANTHROPIC_URL;
  const res = await fetch(`${base}/_calls/${encodeURIComponent(k)}`);
  return ((await res.json()) as { calls: { headers: Record<string, string>; body: any }[] }).calls;
}

async function runOne(config: Record<string, unknown>, input: unknown = {}) {
  const api = client((await createTenant()).token);
  const { executionId } = await run(
    api,
    { name: "llm", nodes: [{ id: "ask", kind: "llm", retry: fast, config }] },
    input,
  );
  const done = await waitFor(api, executionId);
  return done.nodes[0];
}

describe("answers cut by the token limit", () => {
  it("fail the node with llm_truncated by default, once, naming the limit (OpenAI finish_reason length)", async () => {
    const k = key("cut");
    const node = await runOne({
      tier: "mid",
      max_tokens: 100,
      messages: [{ role: "user", content: `[[key=${k}]] [[needs_tokens=500]] Write the whole spec.` }],
    });
    expect(node).toMatchObject({ status: "failed", attempts: 1, error: { code: "llm_truncated" } });
    expect(node.error.message).toBe(
      "openai:gpt-5-mini cut its answer at max_tokens 100: raise max_tokens, or set on_truncation",
    );
    expect(await calls("openai", k)).toHaveLength(1);
  });

  it("fail on Anthropic's stop_reason max_tokens too", async () => {
    const k = key("cut-a");
    const node = await runOne({
      tier: "strong",
      max_tokens: 64,
      messages: [{ role: "user", content: `[[key=${k}]] [[needs_tokens=900]] Long answer.` }],
    });
    expect(node).toMatchObject({ status: "failed", error: { code: "llm_truncated" } });
  });

  it("continue a cut answer from where it stopped, paying only for the rest, until it ends or the cap is spent", async () => {
    const k = key("more");
    const full = Array.from({ length: 500 }, (_, i) => `t${i}`).join(" ");
    const ok = await runOne({
      tier: "mid",
      max_tokens: 100,
      max_tokens_cap: 1000,
      on_truncation: "continue",
      messages: [{ role: "user", content: `[[key=${k}]] [[needs_tokens=500]] Write the whole spec.` }],
    });
    expect(ok.status).toBe("succeeded");
    expect(ok.output.text).toBe(full);
    expect(ok.output).toMatchObject({ calls: 5, usage: { output_tokens: 500 }, max_tokens: 100 });
    expect(ok.output.truncated).toBeUndefined();
    const made = await calls("openai", k);
    expect(made.map((c) => c.body.max_completion_tokens)).toEqual([100, 100, 100, 100, 100]);
    // OpenAI has no prefill: the cut answer goes back as the assistant's turn, and the model is asked to go on.
    expect(made[1]!.body.messages.slice(-2)).toEqual([
      { role: "assistant", content: Array.from({ length: 100 }, (_, i) => `t${i}`).join(" ") },
      { role: "user", content: expect.stringMatching(/^Your answer was cut off by the output limit/) },
    ]);

    const k2 = key("capped");
    const capped = await runOne({
      tier: "mid",
      max_tokens: 100,
      on_truncation: "retry_with_more",
      messages: [{ role: "user", content: `[[key=${k2}]] [[needs_tokens=5000]] Write everything.` }],
    });
    expect(capped).toMatchObject({ status: "failed", error: { code: "llm_truncated" } });
    expect(capped.error.message).toContain("max_tokens_cap (400) was reached");
    expect((await calls("openai", k2)).map((c) => c.body.max_completion_tokens)).toEqual([100, 100, 100, 100]);
  });

  it("continue an Anthropic answer by prefill: the cut text is the assistant's last turn, without trailing space", async () => {
    const k = key("prefill");
    const node = await runOne({
      tier: "strong",
      max_tokens: 64,
      max_tokens_cap: 200,
      on_truncation: "continue",
      messages: [{ role: "user", content: `[[key=${k}]] [[needs_tokens=150]] Long answer.` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.output.text).toBe(Array.from({ length: 150 }, (_, i) => `t${i}`).join(" "));
    const made = await calls("anthropic", k);
    expect(made).toHaveLength(3);
    const last = made[2]!.body.messages.at(-1);
    expect(last.role).toBe("assistant");
    expect(JSON.stringify(last.content)).toContain("t127");
    expect(JSON.stringify(last.content)).not.toMatch(/\s"\}?\]?$/);
  });

  it("keep the cut answer with accept, marked truncated", async () => {
    const k = key("accept");
    const node = await runOne({
      tier: "mid",
      max_tokens: 10,
      on_truncation: "accept",
      messages: [{ role: "user", content: `[[key=${k}]] [[needs_tokens=100]] A long story about tides` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.output.truncated).toBe(true);
    expect(node.output.text).toBe(Array.from({ length: 10 }, (_, i) => `t${i}`).join(" "));
  });

  it("take max_tokens from the tier's MODEL_<TIER>_MAX_TOKENS when the node sets none", async () => {
    const k = key("tier-default");
    await runOne({ tier: "mid", messages: [{ role: "user", content: `[[key=${k}]] hi` }] });
    expect((await calls("openai", k))[0]?.body.max_completion_tokens).toBe(2048);
  });
});

describe("conversations as data", () => {
  it("take messages from an expression, and name the bad element when one is not a message", async () => {
    const k = key("chat");
    const history = [
      { role: "user", content: "What is a spring tide?" },
      { role: "assistant", content: "The larger tide at new and full moon." },
      { role: "user", content: `[[key=${k}]] And a neap tide?` },
    ];
    const node = await runOne({ tier: "mid", messages: "{{ input.history }}" }, { history });
    expect(node.status).toBe("succeeded");
    expect(node.output.text).toBe("echo: And a neap tide?");
    expect((await calls("openai", k))[0]?.body.messages).toEqual(history);

    const bad = await runOne(
      { tier: "mid", messages: "{{ input.history }}" },
      { history: [history[0], { role: "robot", content: "beep" }] },
    );
    expect(bad).toMatchObject({ status: "failed", error: { code: "invalid_config" } });
    expect(bad.error.message).toContain("config.messages[1].role");
  });
});

describe("fallback models", () => {
  it("answer with the next model when the first is still failing on the node's last attempt, and say so", async () => {
    const k = key("fallback");
    const node = await runOne({
      tier: "mid",
      fallback: ["strong"],
      messages: [{ role: "user", content: `[[key=${k}]] [[down=gpt-5-mini]] Summarise.` }],
    });
    expect(node.status).toBe("succeeded");
    expect(node.attempts).toBe(2);
    expect(node.output).toMatchObject({
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      text: "echo: Summarise.",
      fallback_from: [{ model: "mid", error: expect.any(String) }],
    });
    expect(await calls("openai", k)).toHaveLength(2);
    expect(await calls("anthropic", k)).toHaveLength(1);
  });

  it("refuse a fallback entry that is neither a tier nor provider:model when the workflow is saved", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post("/v1/workflows", {
      name: "bad",
      nodes: [
        {
          id: "a",
          kind: "llm",
          config: { tier: "mid", fallback: ["fastest"], messages: [{ role: "user", content: "hi" }] },
        },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({
      path: "nodes[0].config",
      message: "fallback entries are tiers or provider:model",
    });
  });
});

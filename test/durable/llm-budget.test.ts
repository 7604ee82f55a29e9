import { describe, expect, it } from "vitest";
import { client, createTenant, run, waitFor } from "../support/api";

describe("LLM budgets are reserved, not just checked", () => {
  it("lets through only what fits when 20 calls start at once", async () => {
    const api = client((await createTenant()).token);
    // At the test prices a call costs $0.002 (100 + 50 tokens) and may cost about $0.00204 (a ~400-character
    // prompt and 50 tokens): five worst cases fit in $0.0103, and five real costs leave no room for a sixth.
    await api.put("/v1/budget", { monthly_usd: 0.0103 });
    const prompt = `Summarise item {{ item }}. ${"Tides rise and fall with the moon. ".repeat(11)}`;
    const { executionId } = await run(api, {
      name: "burst",
      nodes: [
        {
          id: "ask",
          kind: "map",
          config: {
            items: "[1..20]",
            max_concurrency: 20,
            tolerated_failures: 20,
            node: {
              kind: "llm",
              retry: { max_attempts: 1 },
              config: { tier: "mid", max_tokens: 50, messages: [{ role: "user", content: prompt }] },
            },
          },
        },
      ],
    });
    const done = await waitFor(api, executionId, undefined, 30_000);
    const items = (await api.get(`/v1/executions/${executionId}/nodes/ask/items?limit=100`)).body.data as {
      status: string;
      error: { code: string } | null;
    }[];
    const succeeded = items.filter((i) => i.status === "succeeded");
    const refused = items.filter((i) => i.error?.code === "BUDGET_EXCEEDED");
    expect(succeeded).toHaveLength(5);
    expect(refused).toHaveLength(15);
    expect(done.usage.llm_calls).toBe(5);
    expect(done.usage.cost_usd).toBeCloseTo(0.01, 10);
    expect(done.usage.cost_usd).toBeLessThanOrEqual(0.0103);
    expect((await api.get("/v1/budget")).body.spent_usd).toBeCloseTo(0.01, 10);
  });
});

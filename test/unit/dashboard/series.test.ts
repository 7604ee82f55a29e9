import { describe, expect, it } from "vitest";
import { numericFields, seriesOf, type ResultRow } from "../../../dashboard/src/model/series";

const row = (key: string | null, at: string, value: unknown, id = `ex_${at}`): ResultRow => ({
  workflow_id: "wf_1",
  name: "rewards",
  key,
  execution_id: id,
  node_id: "assemble",
  created_at: at,
  value,
});

describe("results as series", () => {
  it("finds the numeric fields of values, nested one level, in first-seen order", () => {
    expect(
      numericFields([
        { topic: "tides", mean_reward: 0.4, questions: [{ reward: 1 }], best: { reward: 0.9, q: "x" } },
        { total: 3, mean_reward: "n/a" },
        7,
      ]),
    ).toEqual(["mean_reward", "best.reward", "total", ""]);
  });

  it("draws one series per key, oldest first, and leaves out a value without the field instead of a zero", () => {
    const rows = [
      row("tides", "2026-12-05T10:02:00Z", { mean_reward: 0.5 }),
      row("orbits", "2026-12-05T10:01:00Z", { mean_reward: 0.2 }),
      row("tides", "2026-12-05T10:00:00Z", { mean_reward: 0.3 }),
      row("tides", "2026-12-05T10:03:00Z", { other: 1 }),
      row(null, "2026-12-05T10:04:00Z", { mean_reward: 1 }),
    ];
    const series = seriesOf(rows, "mean_reward");
    expect(series.map((s) => [s.key, s.points.map((p) => p.v)])).toEqual([
      ["tides", [0.3, 0.5]],
      ["orbits", [0.2]],
      ["(no key)", [1]],
    ]);
  });
});

import { afterEach, describe, expect, it, vi } from "vitest";
import { log, logs } from "../../../src/lib/log";

afterEach(() => vi.restoreAllMocks());

describe("structured log lines", () => {
  it("writes a JSON line at or above LOG_LEVEL and nothing below it", () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    log("info", "info", "request", { status: 200 });
    log("warn", "info", "request", { status: 200 });
    log("warn", "warn", "execution.failed", { execution_id: "ex_1" });
    log("warn", "error", "cron tick", { failures: ["x"] });
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { level: "info", msg: "request", status: 200 },
      { level: "warn", msg: "execution.failed", execution_id: "ex_1" },
      { level: "error", msg: "cron tick", failures: ["x"] },
    ]);
    expect(logs("debug", "debug")).toBe(true);
    expect(logs("error", "warn")).toBe(false);
  });
});

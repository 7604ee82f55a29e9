import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("npm start's imports", () => {
  it("loads the TypeScript modules scripts/start.mjs imports with plain Node (type stripping, no bundler)", () => {
    // Node resolves no extensionless imports: a module start.mjs loads must not grow one, or the Quickstart breaks.
    const modules = ["./src/nodes/llm/config.ts", "./src/lib/api-keys.ts", "./src/engine/cron.ts"];
    const run = spawnSync(
      process.execPath,
      ["--input-type=module", "-e", modules.map((m) => `await import(${JSON.stringify(m)});`).join(" ")],
      { encoding: "utf8" },
    );
    expect(run.stderr).not.toContain("ERR_MODULE_NOT_FOUND");
    expect(run.status).toBe(0);
  });
});

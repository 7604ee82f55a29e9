import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAIN_SHARD, shardForNewTenant } from "../../../src/db/shards";
// @ts-expect-error: a plain ESM script (the npm scripts' own reader of wrangler.toml), no type declarations
import { readHistoryShardCount } from "../../../scripts/lib/wrangler-config.mjs";

describe("history shards", () => {
  it("puts new tenants in the main database while no shard is bound, and spreads them evenly once some are", () => {
    expect(shardForNewTenant("ten_a", 0)).toBe(MAIN_SHARD);
    const per = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) per[shardForNewTenant(`ten_${crypto.randomUUID()}`, 4)]! += 1;
    for (const n of per) expect(n).toBeGreaterThan(800);
    // Fixed by the id: the same tenant always lands on the same shard for the same count.
    expect(shardForNewTenant("ten_stable", 4)).toBe(shardForNewTenant("ten_stable", 4));
  });

  it("counts the DB_HISTORY_<i> bindings of a wrangler.toml, ignoring commented ones and stopping at a gap", () => {
    const dir = mkdtempSync(join(tmpdir(), "shards-"));
    const toml = (body: string) => {
      const path = join(dir, `${crypto.randomUUID()}.toml`);
      writeFileSync(path, body);
      return path;
    };
    const binding = (name: string, commented = false) =>
      `${commented ? "# " : ""}[[d1_databases]]\n${commented ? "# " : ""}binding = "${name}"\n`;
    expect(readHistoryShardCount(toml(binding("DB") + binding("DB_HISTORY_0", true)))).toBe(0);
    expect(readHistoryShardCount(toml(binding("DB") + binding("DB_HISTORY_0") + binding("DB_HISTORY_1")))).toBe(2);
    expect(readHistoryShardCount(toml(binding("DB_HISTORY_0") + binding("DB_HISTORY_2")))).toBe(1);
  });
});

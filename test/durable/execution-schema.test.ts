import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrateExecutionSchema } from "../../src/db/execution-store";
import { executionStub } from "../../src/durable/client";

const OURS = "type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'";

/** Every table's columns (name, type, not null, default, primary key) and every index's definition, in order. */
function schemaOf(sql: SqlStorage) {
  const objects = sql
    .exec<{ type: string; name: string; sql: string | null }>(
      `SELECT type, name, sql FROM sqlite_master WHERE ${OURS} ORDER BY name`,
    )
    .toArray();
  return objects.map((o) =>
    o.type === "table"
      ? { table: o.name, columns: sql.exec(`PRAGMA table_info(${o.name})`).toArray() }
      : { index: o.name, sql: (o.sql ?? "").replace(/\s+/g, " ") },
  );
}

describe("an execution object's schema", () => {
  it("is created at once for a new object exactly as the migrations build it step by step", async () => {
    const fresh = await runInDurableObject(executionStub(env, `schema-${crypto.randomUUID()}`), (_o, state) =>
      schemaOf(state.storage.sql),
    );
    const stepwise = await runInDurableObject(executionStub(env, `schema-${crypto.randomUUID()}`), (_o, state) => {
      const sql = state.storage.sql;
      for (const t of sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND ${OURS}`)
        .toArray())
        sql.exec(`DROP TABLE ${t.name}`);
      expect(schemaOf(sql)).toEqual([]);
      migrateExecutionSchema(sql, true);
      return schemaOf(sql);
    });
    expect(fresh.map((o) => ("table" in o ? o.table : o.index))).toContain("map_items_by_wait");
    expect(fresh).toEqual(stepwise);
  });
});

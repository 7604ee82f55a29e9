import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { migrateExecutionSchema } from "../../src/db/execution-store";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run } from "../support/api";

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
  it("is created with the execution, exactly as the migrations build it step by step; a lookup writes nothing", async () => {
    const { token } = await createTenant();
    const api = client(token);
    // An id nobody started: the API answers 404 and the object it asked writes no table and no alarm.
    const unknown = "ex_01JZZZZZZZZZZZZZZZZZZZZZZZ";
    expect((await api.get(`/v1/executions/${unknown}`)).status).toBe(404);
    expect((await api.post(`/v1/executions/${unknown}/events`, { name: "go" })).status).toBe(404);
    const untouched = await runInDurableObject(executionStub(env, unknown), (_o, state) => ({
      schema: schemaOf(state.storage.sql),
      alarm: state.storage.getAlarm(),
    }));
    expect(untouched.schema).toEqual([]);
    expect(await untouched.alarm).toBeNull();

    const { executionId } = await run(api, {
      name: "schema",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    });
    const fresh = await runInDurableObject(executionStub(env, executionId), (_o, state) => schemaOf(state.storage.sql));
    const stepwise = await runInDurableObject(executionStub(env, `schema-${crypto.randomUUID()}`), (_o, state) => {
      const sql = state.storage.sql;
      expect(schemaOf(sql)).toEqual([]);
      migrateExecutionSchema(sql, true);
      return schemaOf(sql);
    });
    expect(fresh.map((o) => ("table" in o ? o.table : o.index))).toContain("map_items_by_wait");
    expect(fresh).toEqual(stepwise);
  });
});

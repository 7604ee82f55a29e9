import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client";
import { getProjectedExecution, projectExecution, type ExecutionRow, type NodeRunRow } from "../../src/db/history-repo";
import { client, createTenant, run, waitFor } from "../support/api";

describe("D1 projection", () => {
  it("retries a projection that failed until it lands", async () => {
    const api = client((await createTenant()).token);
    await env.DB.prepare("alter table node_runs rename to node_runs_away").run();
    let executionId: string;
    try {
      executionId = (
        await run(api, { name: "p", nodes: [{ id: "a", kind: "transform", config: { expression: "'done'" } }] })
      ).executionId;
      // The DO finishes the run on its own storage while D1 refuses the writes.
      await waitFor(api, executionId, ["succeeded"], 10_000, { d1: false });
      await new Promise((r) => setTimeout(r, 300));
      // Nothing reached D1: the first projection already carries node rows, so it failed too.
      const row = await env.DB.prepare("select count(*) as n from executions where id = ?")
        .bind(executionId)
        .first<{ n: number }>();
      expect(row?.n).toBe(0);
      expect((await api.get("/health")).status).toBe(503);
    } finally {
      await env.DB.prepare("alter table node_runs_away rename to node_runs").run();
    }
    // waitFor only returns once D1 agrees with the DO: the alarm's retry landed it.
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect((await api.get(`/v1/executions?status=succeeded`)).body.data.map((e: any) => e.id)).toEqual([executionId]);
  });

  it("stores and projects a run of more nodes than one statement takes, every one in its order", async () => {
    const api = client((await createTenant()).token);
    // 70 nodes: three statements to lay them out in the object, eight to project them to D1.
    const nodes = Array.from({ length: 70 }, (_, i) => ({
      id: `n${i}`,
      kind: "transform",
      ...(i ? { needs: [`n${i - 1}`] } : {}),
      config: { expression: i ? `nodes.n${i - 1}.output + 1` : "0" },
    }));
    const { executionId } = await run(api, { name: "long", nodes });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes.map((n: any) => n.node_id)).toEqual(nodes.map((n) => n.id));
    expect(done.output).toEqual({ n69: 69 });
    const projected = await getProjectedExecution(openDb(env.DB).db, done.tenant_id, executionId);
    const outputs = Object.fromEntries((projected?.nodes ?? []).map((n) => [n.node_id, n.output]));
    expect(outputs).toEqual(Object.fromEntries(nodes.map((n, i) => [n.id, i])));
  });

  it("upserts on the composite keys, twice over, and never lets an older write win", async () => {
    const db = openDb(env.DB).db;
    const exec: ExecutionRow = {
      id: "ex_projection_test",
      tenant_id: "ten_p",
      workflow_id: "wf_p",
      version: 1,
      status: "running",
      input: { a: 1 },
      output: null,
      error_code: null,
      error_message: null,
      created_at: 1000,
      started_at: 1000,
      finished_at: null,
      deadline_at: 9000,
      seq: 3,
      projected_at: 1001,
      wake_at: 5000,
      parent_execution_id: null,
      parent_node_id: null,
      retain_until: null,
    };
    const node = (id: string, seq: number, status: string): NodeRunRow => ({
      execution_id: exec.id,
      node_id: id,
      kind: "transform",
      status,
      attempt: 1,
      started_at: 1000,
      finished_at: null,
      error_code: null,
      error_message: null,
      output: null,
      seq,
    });
    const manyNodes = Array.from({ length: 25 }, (_, i) => node(`n${i}`, 2, "running"));
    await projectExecution(db, exec, manyNodes);
    await projectExecution(db, exec, manyNodes);
    let got = await getProjectedExecution(db, "ten_p", exec.id);
    expect(got?.nodes).toHaveLength(25);

    await projectExecution(db, { ...exec, status: "succeeded", seq: 9 }, [node("n0", 8, "succeeded")]);
    await projectExecution(db, { ...exec, status: "running", seq: 5 }, [node("n0", 4, "running")]);
    got = await getProjectedExecution(db, "ten_p", exec.id);
    expect(got?.execution.status).toBe("succeeded");
    expect(got?.execution.seq).toBe(9);
    expect(got?.nodes.find((n) => n.node_id === "n0")?.status).toBe("succeeded");
    // Another tenant cannot read it.
    expect(await getProjectedExecution(db, "ten_other", exec.id)).toBeNull();
  });
});

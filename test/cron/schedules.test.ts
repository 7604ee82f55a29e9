import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { client, createTenant, waitFor, type Client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

const quick = { name: "quick", nodes: [{ id: "a", kind: "transform", config: { expression: "input.n" } }] };
const waiting = { name: "waits", nodes: [{ id: "w", kind: "wait_for_event", config: { event: "done" } }] };

async function workflow(api: Client, def: unknown): Promise<string> {
  return (await api.post("/v1/workflows", def)).body.id;
}

async function runs(api: Client, scheduleId: string) {
  return (await api.get(`/v1/schedules/${scheduleId}/runs`)).body.data as any[];
}

describe("schedules", () => {
  it("dispatches a due schedule exactly once even when the tick is delivered twice, and advances next_run_at", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, quick);
    const created = await api.post(`/v1/workflows/${wf}/schedules`, { cron: "*/5 * * * *", input: { n: 7 } });
    expect(created.status).toBe(201);
    const due = Date.parse(created.body.next_run_at);
    expect(due % (5 * MINUTE)).toBe(0);
    expect(due).toBeGreaterThan(Date.now());

    await Promise.all([tick(due + 1000), tick(due + 1000)]);
    await tick(due + 2000);
    const [run, ...others] = await runs(api, created.body.id);
    expect(others).toEqual([]);
    expect(run).toMatchObject({ scheduled_at: new Date(due).toISOString(), status: "started" });
    const done = await waitFor(api, run.execution_id);
    expect(done.output).toEqual({ a: 7 });
    const executions = (await api.get(`/v1/executions?workflow_id=${wf}`)).body.data;
    expect(executions.map((e: any) => e.id)).toEqual([run.execution_id]);
    const after = (await api.get(`/v1/schedules/${created.body.id}`)).body;
    expect(Date.parse(after.next_run_at)).toBe(due + 5 * MINUTE);
    expect(after.last_execution_id).toBe(run.execution_id);
    // The tenant-wide list (the dashboard's schedules page) has it, and a deleted workflow's schedules drop out.
    const other = await workflow(api, quick);
    await api.post(`/v1/workflows/${other}/schedules`, { cron: "0 * * * *" });
    expect((await api.get("/v1/schedules")).body.data.map((s: any) => s.workflow_id)).toEqual([other, wf]);
    await api.del(`/v1/workflows/${other}`);
    expect((await api.get("/v1/schedules")).body.data.map((s: any) => s.id)).toEqual([created.body.id]);
    expect((await client((await createTenant()).token).get("/v1/schedules")).body.data).toEqual([]);
  });

  it("skips a run while the previous one is still running when overlap is skip, and runs it when allow", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, waiting);
    const skip = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *", overlap: "skip" })).body;
    const allow = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *", overlap: "allow" })).body;
    const t0 = Math.max(Date.parse(skip.next_run_at), Date.parse(allow.next_run_at));
    await tick(t0);
    await tick(t0 + MINUTE);
    const skipRuns = await runs(api, skip.id);
    expect(skipRuns.map((r) => r.status)).toEqual(["skipped", "started"]);
    expect(skipRuns[0].reason).toBe(`previous run ${skipRuns[1].execution_id} is still running`);
    expect((await runs(api, allow.id)).map((r) => r.status)).toEqual(["started", "started"]);
    expect(Date.parse((await api.get(`/v1/schedules/${skip.id}`)).body.next_run_at)).toBe(t0 + 2 * MINUTE);
  });

  it("resumes after downtime with one run, not one per missed time", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, quick);
    const s = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *", input: { n: 1 } })).body;
    const due = Date.parse(s.next_run_at);
    await tick(due + 60 * MINUTE);
    expect((await runs(api, s.id)).map((r) => r.status)).toEqual(["started"]);
    expect(Date.parse((await api.get(`/v1/schedules/${s.id}`)).body.next_run_at)).toBe(due + 61 * MINUTE);
  });

  it("switches a workflow's schedules off, saying why, when the workflow is deleted", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, quick);
    const s = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *" })).body;
    expect(s).toMatchObject({ enabled: true, disabled_reason: null });
    expect((await api.del(`/v1/workflows/${wf}`)).status).toBe(204);
    const after = (await api.get(`/v1/schedules/${s.id}`)).body;
    expect(after.enabled).toBe(false);
    expect(after.disabled_reason).toBe(`workflow_deleted: workflow ${wf} was deleted`);
    // Nothing is due any more: no run, not even a skip, minute after minute.
    await tick(Date.parse(s.next_run_at));
    await tick(Date.parse(s.next_run_at) + MINUTE);
    expect(await runs(api, s.id)).toEqual([]);
  });

  it("records one skip and switches the schedule off when its workflow vanished without it", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, quick);
    const s = (await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *" })).body;
    // A workflow deleted before deletes switched schedules off: only the workflow row says so.
    await env.DB.prepare("update workflows set deleted_at = ? where id = ?").bind(Date.now(), wf).run();
    await tick(Date.parse(s.next_run_at));
    await tick(Date.parse(s.next_run_at) + MINUTE);
    const [run, ...more] = await runs(api, s.id);
    expect(more).toEqual([]);
    expect(run.status).toBe("skipped");
    expect(run.reason).toMatch(/^workflow_not_found/);
    expect((await api.get(`/v1/schedules/${s.id}`)).body).toMatchObject({
      enabled: false,
      disabled_reason: expect.stringMatching(/^workflow_not_found/),
    });
  });

  it("validates cron, time zone and input, supports updates, and hides other tenants' schedules", async () => {
    const api = client((await createTenant()).token);
    const wf = await workflow(api, { ...quick, input_schema: { type: "object", required: ["n"] } });
    const badCron = await api.post(`/v1/workflows/${wf}/schedules`, { cron: "61 * * * *", input: { n: 1 } });
    expect(badCron.status).toBe(400);
    expect(badCron.body.errors[0].path).toBe("cron");
    const badZone = await api.post(`/v1/workflows/${wf}/schedules`, {
      cron: "* * * * *",
      timezone: "Mars/Olympus",
      input: { n: 1 },
    });
    expect(badZone.body.errors[0]).toEqual({ path: "timezone", message: 'unknown time zone "Mars/Olympus"' });
    expect((await api.post(`/v1/workflows/${wf}/schedules`, { cron: "* * * * *" })).status).toBe(422);

    const s = (
      await api.post(`/v1/workflows/${wf}/schedules`, {
        cron: "0 9 * * *",
        timezone: "America/New_York",
        input: { n: 1 },
      })
    ).body;
    expect(new Date(s.next_run_at).getUTCHours()).toBe(14);
    const paused = await api.raw("PATCH", `/v1/schedules/${s.id}`, { enabled: false, cron: "30 9 * * *" });
    expect(paused.body).toMatchObject({ enabled: false, cron: "30 9 * * *" });
    expect(new Date(paused.body.next_run_at).getUTCMinutes()).toBe(30);
    expect((await api.get(`/v1/workflows/${wf}/schedules`)).body.data).toHaveLength(1);

    const other = client((await createTenant()).token);
    expect((await other.get(`/v1/schedules/${s.id}`)).status).toBe(404);
    expect((await other.raw("PATCH", `/v1/schedules/${s.id}`, { enabled: true })).status).toBe(404);
    expect((await other.del(`/v1/schedules/${s.id}`)).status).toBe(404);
    expect((await api.del(`/v1/schedules/${s.id}`)).status).toBe(204);
    expect((await api.get(`/v1/schedules/${s.id}`)).status).toBe(404);
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, target, targetCalls, waitFor } from "../support/api";

describe("concurrency_key", () => {
  it("runs executions with the same key one after another and different keys in parallel", async () => {
    const api = client((await createTenant()).token);
    const k = `ck-${Date.now()}`;
    const wf = await api.post("/v1/workflows", {
      name: "edit file",
      concurrency_key: "{{ input.file }}",
      nodes: [
        {
          id: "edit",
          kind: "http",
          config: { method: "POST", url: target(`/slow/${k}-{{ input.file }}-{{ input.n }}?ms=300`) },
        },
      ],
    });
    expect(wf.status).toBe(201);
    const start = (file: string, n: number) =>
      api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { file, n } });
    const first = await start("a.ts", 1);
    const second = await start("a.ts", 2);
    const other = await start("b.ts", 3);
    expect(first.body.status).toBe("running");
    expect(second.body.status).toBe("queued");
    expect(other.body.status).toBe("running");
    for (const r of [first, second, other]) expect((await waitFor(api, r.body.id)).status).toBe("succeeded");

    const [a1] = (await targetCalls(`${k}-a.ts-1`)).calls;
    const [a2] = (await targetCalls(`${k}-a.ts-2`)).calls;
    const [b3] = (await targetCalls(`${k}-b.ts-3`)).calls;
    expect(a2!.started_at).toBeGreaterThanOrEqual(a1!.finished_at!);
    expect(b3!.started_at).toBeLessThan(a1!.finished_at!);
    const log = (await api.get(`/v1/executions/${second.body.id}/events`)).body.data.map((e: any) => e.type);
    expect(log.slice(0, 2)).toEqual(["execution.queued", "execution.started"]);
  });

  it("gives a cancelled waiter's place to the next one", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "gate",
      concurrency_key: "{{ input.file }}",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "go" } }],
    });
    const start = () => api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { file: "same" } });
    const holder = (await start()).body.id;
    const waiter = (await start()).body.id;
    const last = (await start()).body.id;
    expect((await api.post(`/v1/executions/${waiter}/cancel`)).body.status).toBe("cancelled");
    await api.post(`/v1/executions/${holder}/events`, { name: "go" });
    expect((await waitFor(api, holder)).status).toBe("succeeded");
    expect((await waitFor(api, last, ["running"])).status).toBe("running");
    await api.post(`/v1/executions/${last}/events`, { name: "go" });
    expect((await waitFor(api, last)).status).toBe("succeeded");
  });

  it("queues executions beyond the tenant's running limit and starts them in arrival order", async () => {
    const api = client((await createTenant()).token);
    const k = `limit-${crypto.randomUUID()}`;
    // Busy runs hold their slots (a run that only waits would give its slot back: test/durable/parking.test.ts).
    const wf = await api.post("/v1/workflows", {
      name: "hold",
      nodes: [{ id: "h", kind: "http", config: { method: "GET", url: target(`/slow/${k}-{{ input.i }}?ms=1500`) } }],
    });
    const ids: string[] = [];
    // MAX_RUNNING_EXECUTIONS_PER_TENANT is 20 in tests.
    for (let i = 0; i < 22; i++)
      ids.push((await api.post(`/v1/workflows/${wf.body.id}/executions`, { input: { i } })).body.id);
    const statuses = async () =>
      Promise.all(ids.map(async (id) => (await api.get(`/v1/executions/${id}`)).body.status as string));
    expect((await statuses()).filter((st) => st === "running")).toHaveLength(20);
    expect((await statuses()).slice(20)).toEqual(["queued", "queued"]);
    await api.post(`/v1/executions/${ids[1]}/cancel`);
    // The cancelled run's slot goes to the first in line at once, the next one waits for a run to end.
    expect((await waitFor(api, ids[20]!, ["running"])).status).toBe("running");
    expect((await api.get(`/v1/executions/${ids[21]}`)).body.status).toBe("queued");
    for (const id of ids.filter((_, i) => i !== 1)) expect((await waitFor(api, id)).status).toBe("succeeded");
    const started = async (i: number) => (await targetCalls(`${k}-${i}`)).calls[0]!.started_at;
    const firstEnd = Math.min(
      ...(await Promise.all(
        [...Array(20).keys()]
          .filter((i) => i !== 1)
          .map(async (i) => (await targetCalls(`${k}-${i}`)).calls[0]!.finished_at!),
      )),
    );
    expect(await started(21)).toBeGreaterThanOrEqual(firstEnd);
    expect(await started(20)).toBeLessThan(firstEnd);
  });
});

// Gate 2: failing alarms and storage. alarm() throws 0-10 times (at its start, or mid-step); one storage write fails
// (a SQLite trigger aborts the insert of the k-th event); an alarm is lost outright. Every run must resume or fail
// cleanly with its status right in D1, and the watchdog must flag a stuck one within two cron periods.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { runTick } from "../../src/cron/tick";
import { executionStub } from "../../src/durable/client";
import { installCrashHook, type CrashPoint } from "../../src/durable/faults";
import { client, createTenant, projection, target, waitFor, waitForNode, type Client } from "../support/api";
import { reportGate } from "../support/gates";

const http = (id: string, needs: string[]) => ({
  id,
  kind: "http",
  needs,
  config: { method: "POST", url: target(`/attempt/{{ execution.id }}-${id}`) },
});
const DEFINITION = {
  name: "failures",
  nodes: [
    { id: "w", kind: "wait_for_event", config: { event: "go" } },
    http("a", ["w"]),
    http("b", ["a"]),
    { id: "c", kind: "transform", needs: ["b"], config: { expression: "nodes.b.output.status" } },
  ],
};
// Every log line of this isolate (the objects share it): how the test sees an object reset itself.
const lines: string[] = [];
const error = console.error;
console.error = (...args: unknown[]) => {
  lines.push(args.map(String).join(" "));
  error(...args);
};
const resets = (id: string) => lines.filter((l) => l.includes("execution object reset") && l.includes(id)).length;

const COMPLETIONS = new Set(["node.succeeded", "node.failed", "node.skipped", "node.cancelled", "node.retrying"]);

async function retrying<T extends { status: number }>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    const res = await call();
    if (res.status !== 503 || i > 20) return res;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Run the alarm (as the runtime's retries would) until the execution ends; a throwing alarm is simply run again. */
async function driveToEnd(api: Client, id: string): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const view = (await api.get(`/v1/executions/${id}`)).body;
    if (["succeeded", "failed", "cancelled", "timed_out"].includes(view.status)) return waitFor(api, id);
    await runDurableObjectAlarm(executionStub(env, id)).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
  }
  const view = (await api.get(`/v1/executions/${id}`)).body;
  const alarm = await runInDurableObject(executionStub(env, id), async (_o, state) => state.storage.getAlarm());
  throw new Error(
    `execution ${id} never ended (${lines
      .filter((l) => l.includes(id))
      .slice(-3)
      .join(" | ")}): alarm ${alarm}, ${JSON.stringify(view.nodes.map((n: any) => [n.node_id, n.status, n.attempts]))}`,
  );
}

/** The run ended succeeded, D1 agrees (waitFor checks), the log is gap-free and nothing completed twice. */
async function verify(api: Client, id: string, label: string, problems: string[]): Promise<void> {
  const done = await driveToEnd(api, id);
  if (done.status !== "succeeded" || done.output?.c !== 200)
    problems.push(`${label}: ended ${done.status} ${JSON.stringify(done.output)}`);
  const d1 = await projection(id);
  if (d1?.execution.status !== done.status)
    problems.push(`${label}: D1 says ${d1?.execution.status}, the object ${done.status}`);
  const log = (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];
  if (log.some((e, i) => e.seq !== i + 1)) problems.push(`${label}: seq gap`);
  const seen = new Set<string>();
  for (const e of log.filter((x) => COMPLETIONS.has(x.type))) {
    const k = `${e.node_id}#${e.attempt}`;
    if (seen.has(k)) problems.push(`${label}: ${k} completed twice`);
    seen.add(k);
  }
}

async function started(api: Client, wf: string): Promise<string> {
  const id = (await api.post(`/v1/workflows/${wf}/executions`, {})).body.id as string;
  await waitForNode(api, id, "w", "waiting");
  return id;
}

describe("gate: failing alarms and storage", () => {
  it("resumes through throwing alarms and a failed storage write; the watchdog catches a lost alarm within two ticks", async () => {
    const api = client((await createTenant()).token);
    const wf = (await api.post("/v1/workflows", DEFINITION)).body.id as string;
    const problems: string[] = [];
    let runs = 0;

    // 1. alarm() throws 0-10 times, at its start or mid-step (after an attempt returned, before it is recorded).
    for (const point of ["alarm", "attempt.returned"] as CrashPoint[]) {
      for (let throws = 0; throws <= 10; throws++) {
        const id = await started(api, wf);
        let left = throws;
        installCrashHook((site) => {
          if (site.execution_id !== id || site.point !== point || left <= 0) return;
          left--;
          throw new Error(`injected: alarm fails (${throws - left}/${throws})`);
        });
        await retrying(() => api.post(`/v1/executions/${id}/events`, { name: "go" }));
        await verify(api, id, `${point} throws ${throws}x`, problems);
        installCrashHook(null);
        if (left > 0) problems.push(`${point} throws ${throws}x: only ${throws - left} happened`);
        runs++;
      }
    }

    // 2. One storage write fails: the k-th event written after arming is refused by a SQLite trigger. The failed
    // step's writes roll back with it (the object resets), so the trigger stays armed until the test sees the reset.
    let storageFaults = 0;
    for (let k = 0; k < 9; k++) {
      const id = await started(api, wf);
      await runInDurableObject(executionStub(env, id), async (_object, state) => {
        const base = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;
        state.storage.sql.exec(`CREATE TABLE fault_armed (x INTEGER); INSERT INTO fault_armed VALUES (1);
          CREATE TRIGGER fault_on_event BEFORE INSERT ON events
          WHEN EXISTS (SELECT 1 FROM fault_armed) AND (SELECT COUNT(*) FROM events) = ${base + k}
          BEGIN SELECT RAISE(ABORT, 'injected storage failure'); END;`);
      });
      const resetsBefore = resets(id);
      const sent = retrying(() => api.post(`/v1/executions/${id}/events`, { name: "go" }));
      for (let i = 0; i < 500 && resets(id) === resetsBefore; i++) await new Promise((r) => setTimeout(r, 5));
      if (resets(id) > resetsBefore) storageFaults++;
      else problems.push(`storage write ${k} fails: the write never failed`);
      // The object may still be resetting itself: a call that lands on the old instance fails, so try again.
      for (let i = 0; ; i++) {
        try {
          await runInDurableObject(executionStub(env, id), async (_object, state) =>
            state.storage.sql.exec("DROP TRIGGER IF EXISTS fault_on_event; DROP TABLE IF EXISTS fault_armed;"),
          );
          break;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      const delivered = await sent;
      if (delivered.status !== 202)
        problems.push(
          `storage write ${k} fails: sending the event answered ${delivered.status} ${JSON.stringify(delivered.body)}`,
        );
      await verify(api, id, `storage write ${k} fails`, problems);
      runs++;
    }

    // 3. A lost alarm: nothing would ever wake the run. The watchdog must poke it within two cron periods.
    const sleeper = await api.post("/v1/workflows", {
      name: "lost alarm",
      nodes: [{ id: "s", kind: "sleep", config: { duration_ms: 100 } }, http("a", ["s"])],
    });
    const lost = (await api.post(`/v1/workflows/${sleeper.body.id}/executions`, {})).body.id as string;
    const healthy = (
      await api.post(
        `/v1/workflows/${(await api.post("/v1/workflows", { name: "long sleep", nodes: [{ id: "s", kind: "sleep", config: { duration_ms: 3_600_000 } }] })).body.id}/executions`,
        {},
      )
    ).body.id as string;
    await waitForNode(api, lost, "s", "waiting");
    await waitForNode(api, healthy, "s", "waiting");
    await runInDurableObject(executionStub(env, lost), async (_object, state) => state.storage.deleteAlarm());
    const wake = (await projection(lost))?.execution.wake_at as number;
    await new Promise((r) => setTimeout(r, 300));
    expect((await api.get(`/v1/executions/${lost}`)).body.status).toBe("running");
    // The first tick after the 60 s grace (at most two cron periods after the missed wake-up) pokes it, and only it.
    const first = (await runTick(env, wake + 61_000)) as { watchdog: { poked: number } };
    const recovered = await waitFor(api, lost);
    if (recovered.status !== "succeeded") problems.push(`lost alarm: ended ${recovered.status}`);
    if (first.watchdog.poked !== 1) problems.push(`lost alarm: the tick poked ${first.watchdog.poked} executions`);
    expect((await api.get(`/v1/executions/${healthy}`)).body.status).toBe("running");
    runs++;

    await reportGate(
      "alarm-and-storage-failures",
      `${runs} runs: alarm() throwing 0-10 times at 2 points, ${storageFaults} failed storage writes (one per run, every event position), 1 lost alarm poked by the first watchdog tick; ${problems.length} problems, D1 status right in every run`,
    );
    expect(problems).toEqual([]);
  });
  it("a start that waits (Prefer: wait) and whose object resets mid-wait answers the started run, not a refusal to retry", async () => {
    const api = client((await createTenant()).token);
    const wf = (
      await api.post("/v1/workflows", {
        name: "reset-mid-wait",
        nodes: [
          { id: "a", kind: "transform", config: { expression: "1" } },
          // The nap lets the start's writes commit before b fails: a reset before that commit would undo the start
          // itself, and then "interrupted, retry" is the true answer.
          { id: "nap", kind: "sleep", needs: ["a"], config: { duration_ms: 200 } },
          { id: "b", kind: "transform", needs: ["nap"], config: { expression: "nodes.a.output + 1" } },
        ],
      })
    ).body.id as string;
    let thrown = 0;
    // The run's step after node b fails once: the object resets while the start's own call is still waiting on it.
    installCrashHook((site) => {
      if (site.point !== "completion.stored" || site.node_id !== "b" || thrown > 0) return;
      thrown++;
      throw new Error("injected: the object fails mid-wait");
    });
    try {
      // No Idempotency-Key: a refusal that says "retry" here would have the caller start the run a second time.
      const res = await api.post(`/v1/workflows/${wf}/executions`, {}, { prefer: "wait=10" });
      expect(thrown).toBe(1);
      expect(res.status).toBe(201);
      expect(res.headers.get("preference-applied")).toBe("wait=10");
      expect(res.body.id).toMatch(/^ex_/);
      expect((await waitFor(api, res.body.id)).output).toEqual({ b: 2 });
      const listed = (await api.get(`/v1/executions?workflow_id=${wf}`)).body.data;
      expect(listed.map((e: { id: string }) => e.id)).toEqual([res.body.id]);
    } finally {
      installCrashHook(null);
    }
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";

const fast = { max_attempts: 3, initial_delay_ms: 10, backoff_coefficient: 2, max_delay_ms: 100, jitter: false };
let seq = 0;
const key = (name: string) => `${name}-${Date.now()}-${++seq}`;

async function tenantApi(): Promise<Client> {
  return client((await createTenant()).token);
}

async function events(api: Client, id: string) {
  return (await api.get(`/v1/executions/${id}/events?after=0&limit=1000`)).body.data as any[];
}

describe("execution semantics", () => {
  it("runs independent branches of a diamond in parallel", async () => {
    const api = await tenantApi();
    const k = key("diamond");
    const { executionId } = await run(api, {
      name: "diamond",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "'go'" } },
        { id: "b", kind: "http", needs: ["a"], config: { url: target(`/slow/${k}-b?ms=400`) } },
        { id: "c", kind: "http", needs: ["a"], config: { url: target(`/slow/${k}-c?ms=400`) } },
        {
          id: "d",
          kind: "transform",
          needs: ["b", "c"],
          config: { expression: "[nodes.b.output.body.key, nodes.c.output.body.key]" },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ d: [`${k}-b`, `${k}-c`] });
    const b = (await targetCalls(`${k}-b`)).calls[0]!;
    const c = (await targetCalls(`${k}-c`)).calls[0]!;
    // Both requests were open at the same time at the target server.
    expect(b.started_at).toBeLessThan(c.finished_at!);
    expect(c.started_at).toBeLessThan(b.finished_at!);
  });

  it("respects max_parallel", async () => {
    const api = await tenantApi();
    const k = key("maxpar");
    const { executionId } = await run(api, {
      name: "narrow",
      max_parallel: 1,
      nodes: ["x", "y"].map((id) => ({ id, kind: "http", config: { url: target(`/slow/${k}-${id}?ms=200`) } })),
    });
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
    const x = (await targetCalls(`${k}-x`)).calls[0]!;
    const y = (await targetCalls(`${k}-y`)).calls[0]!;
    expect(y.started_at).toBeGreaterThanOrEqual(x.finished_at!);
  });

  it("retries retryable failures with backoff, recording each attempt", async () => {
    const api = await tenantApi();
    const k = key("flaky");
    const { executionId } = await run(api, {
      name: "flaky",
      nodes: [{ id: "call", kind: "http", retry: fast, config: { url: target(`/flaky/${k}?fail=2`) } }],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0]).toMatchObject({ status: "succeeded", attempts: 3, error: null });
    expect(done.nodes[0].output.body).toEqual({ ok: true, calls: 3 });
    const retries = (await events(api, executionId)).filter((e) => e.type === "node.retrying");
    expect(retries.map((e) => [e.attempt, e.data.error.code, e.data.delay_ms])).toEqual([
      [1, "http_503", 10],
      [2, "http_503", 20],
    ]);
    const keys = (await targetCalls(k)).calls.map((c) => c.idempotency_key);
    expect(keys).toEqual([1, 2, 3].map(() => `${executionId}:call`));
    expect((await targetCalls(k)).calls.map((c) => c.attempt)).toEqual(["1", "2", "3"]);
  });

  it("honours Retry-After on 429", async () => {
    const api = await tenantApi();
    const k = key("ratelimited");
    const { executionId } = await run(api, {
      name: "429",
      nodes: [
        {
          id: "call",
          kind: "http",
          retry: fast,
          config: { url: target(`/flaky/${k}?fail=1&status=429&retry_after=1`) },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const retry = (await events(api, executionId)).find((e) => e.type === "node.retrying");
    expect(retry.data.delay_ms).toBe(1000);
    const [first, second] = (await targetCalls(k)).calls;
    expect(second!.started_at - first!.started_at).toBeGreaterThanOrEqual(1000);
  });

  it("fails fast on a 4xx, skips what depended on it, and fails the execution", async () => {
    const api = await tenantApi();
    const k = key("notfound");
    const { executionId } = await run(api, {
      name: "404",
      nodes: [
        { id: "get", kind: "http", retry: fast, config: { url: target(`/status/404/${k}`) } },
        { id: "after", kind: "transform", needs: ["get"], config: { expression: "1" } },
        { id: "other", kind: "transform", config: { expression: "'independent'" } },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.error).toEqual({ code: "node_failed", message: "failed nodes: get" });
    expect(done.nodes.map((n: any) => [n.node_id, n.status, n.attempts])).toEqual([
      ["get", "failed", 1],
      ["after", "skipped", 0],
      ["other", "succeeded", 1],
    ]);
    expect(done.nodes[0].error.code).toBe("http_404");
    expect((await targetCalls(k)).calls).toHaveLength(1);
  });

  it("retries a 4xx listed in retry_on_status, and continue_on_failure lets dependents run", async () => {
    const api = await tenantApi();
    const k = key("conflict");
    const { executionId } = await run(api, {
      name: "409",
      nodes: [
        {
          id: "get",
          kind: "http",
          retry: { ...fast, max_attempts: 2 },
          continue_on_failure: true,
          config: { url: target(`/status/409/${k}`), retry_on_status: [409] },
        },
        { id: "after", kind: "transform", needs: ["get"], config: { expression: "nodes.get.status" } },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0]).toMatchObject({ status: "failed", attempts: 2 });
    expect(done.output).toEqual({ after: "failed" });
  });

  it("treats a connection failure as retryable", async () => {
    const api = await tenantApi();
    // Port 9 (discard) on loopback: nothing listens there, so the connection is refused.
    const { executionId } = await run(api, {
      name: "refused",
      nodes: [
        {
          id: "call",
          kind: "http",
          retry: { ...fast, max_attempts: 2 },
          config: { url: "http://127.0.0.1:9/nothing" },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0]).toMatchObject({ attempts: 2, error: { code: "network_error" } });
    const retry = (await events(api, executionId)).find((e) => e.type === "node.retrying");
    expect(retry.data.error.code).toBe("network_error");
  });

  it("aborts an attempt at its timeout and retries it", async () => {
    const api = await tenantApi();
    const k = key("hang");
    const { executionId } = await run(api, {
      name: "hang",
      nodes: [
        {
          id: "wait",
          kind: "http",
          timeout_ms: 150,
          retry: { ...fast, max_attempts: 2 },
          config: { url: target(`/hang/${k}`) },
        },
      ],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0]).toMatchObject({
      status: "failed",
      attempts: 2,
      error: { code: "timeout", message: "attempt timed out" },
    });
    expect((await targetCalls(k)).calls).toHaveLength(2);
  });

  it("times the whole execution out, cancelling what is still running", async () => {
    const api = await tenantApi();
    const wf = await api.post("/v1/workflows", {
      name: "slow",
      nodes: [
        { id: "hang", kind: "http", timeout_ms: 60_000, config: { url: target(`/hang/${key("exec-timeout")}`) } },
        { id: "never", kind: "transform", needs: ["hang"], config: { expression: "1" } },
      ],
    });
    const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, { timeout_seconds: 1 });
    const done = await waitFor(api, ex.body.id);
    expect(done.status).toBe("timed_out");
    expect(done.error.code).toBe("execution_timeout");
    expect(done.nodes.map((n: any) => n.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("cancels a running execution once", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "long",
      nodes: [{ id: "nap", kind: "sleep", config: { duration_ms: 600_000 } }],
    });
    await waitFor(api, executionId, ["running"]);
    const cancelled = await api.post(`/v1/executions/${executionId}/cancel`, { reason: "changed my mind" });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    const done = await waitFor(api, executionId);
    expect(done).toMatchObject({ status: "cancelled", error: { code: "cancelled", message: "changed my mind" } });
    expect(done.nodes[0].status).toBe("cancelled");
    const again = await api.post(`/v1/executions/${executionId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("execution_finished");
  });

  it("renders templates from input and upstream outputs into http configs", async () => {
    const api = await tenantApi();
    const { executionId } = await run(
      api,
      {
        name: "templated",
        nodes: [
          { id: "make", kind: "transform", config: { expression: "{'id': input.id * 2, 'tags': input.tags}" } },
          {
            id: "send",
            kind: "http",
            needs: ["make"],
            config: {
              method: "POST",
              url: target("/echo/items/{{ nodes.make.output.id }}"),
              query: { q: "{{ input.q }}" },
              headers: { "x-run": "{{ execution.id }}" },
              body: { item: "{{ nodes.make.output }}", note: "id={{ nodes.make.output.id }}" },
            },
          },
        ],
      },
      { id: 21, tags: ["a"], q: "hello world" },
    );
    const done = await waitFor(api, executionId);
    const echo = done.nodes[1].output.body;
    expect(echo.path).toBe("/echo/items/42");
    expect(echo.query).toEqual({ q: "hello world" });
    expect(echo.headers["x-run"]).toBe(executionId);
    expect(echo.headers["idempotency-key"]).toBe(`${executionId}:send`);
    expect(echo.body).toEqual({ item: { id: 42, tags: ["a"] }, note: "id=42" });
  });

  it("keeps an ordered, gap-free event log with one envelope shape", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "log",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "1" } },
        { id: "b", kind: "transform", needs: ["a"], when: "false", config: { expression: "2" } },
      ],
    });
    await waitFor(api, executionId);
    const log = await events(api, executionId);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.map((e) => [e.type, e.node_id ?? null])).toEqual([
      ["execution.queued", null],
      ["execution.started", null],
      ["node.started", "a"],
      ["node.succeeded", "a"],
      ["node.skipped", "b"],
      ["execution.succeeded", null],
    ]);
    for (const e of log) {
      expect(e.execution_id).toBe(executionId);
      expect(new Date(e.at).toISOString()).toBe(e.at);
    }
    const tail = (await api.get(`/v1/executions/${executionId}/events?after=4`)).body;
    expect(tail.data.map((e: any) => e.seq)).toEqual([5, 6]);
    expect(tail.next_after).toBe(6);
  });
});

describe("waiting nodes", () => {
  it("completes a wait_for_event node with the event's payload", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "approval",
      nodes: [
        { id: "approve", kind: "wait_for_event", config: { event: "approved", timeout_ms: 60_000 } },
        {
          id: "after",
          kind: "transform",
          needs: ["approve"],
          config: { expression: "nodes.approve.output.payload.by" },
        },
      ],
    });
    const node = await waitForNode(api, executionId, "approve", "waiting");
    expect(node.waiting_for.event).toBe("approved");
    expect(Date.parse(node.waiting_for.until)).toBeGreaterThan(Date.now() + 50_000);
    const sent = await api.post(`/v1/executions/${executionId}/events`, { name: "approved", payload: { by: "ada" } });
    expect(sent.status).toBe(202);
    expect(sent.body.delivered_to).toBe("approve");
    const done = await waitFor(api, executionId);
    expect(done.output).toEqual({ after: "ada" });
    const late = await api.post(`/v1/executions/${executionId}/events`, { name: "approved" });
    expect(late.status).toBe(409);
  });

  it("concludes the run when an event completes its last node", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "last",
      nodes: [{ id: "only", kind: "wait_for_event", config: { event: "go" } }],
    });
    await waitForNode(api, executionId, "only", "waiting");
    await api.post(`/v1/executions/${executionId}/events`, { name: "go", payload: 1 });
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
  });

  it("buffers an event sent before the wait starts", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "early",
      nodes: [
        { id: "nap", kind: "sleep", config: { duration_ms: 300 } },
        { id: "approve", kind: "wait_for_event", needs: ["nap"], config: { event: "go" } },
      ],
    });
    const sent = await api.post(`/v1/executions/${executionId}/events`, { name: "go", payload: 1 });
    expect(sent.body.delivered_to).toBeNull();
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[1].output).toMatchObject({ name: "go", payload: 1 });
  });

  it("fails a wait that times out", async () => {
    const api = await tenantApi();
    const { executionId } = await run(api, {
      name: "timeout",
      nodes: [{ id: "approve", kind: "wait_for_event", config: { event: "never", timeout_ms: 200 } }],
    });
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0].error.code).toBe("wait_timeout");
  });

  it("sleeps durably until a given time", async () => {
    const api = await tenantApi();
    const until = new Date(Date.now() + 400).toISOString();
    const { executionId } = await run(
      api,
      { name: "until", nodes: [{ id: "nap", kind: "sleep", config: { until: "{{ input.at }}" } }] },
      { at: until },
    );
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(Date.parse(done.nodes[0].finished_at)).toBeGreaterThanOrEqual(Date.parse(until));
  });
});

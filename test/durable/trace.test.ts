import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { client, createTenant, target, targetCalls, waitFor } from "../support/api";

const PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace context", () => {
  it("carries the caller's trace id to every outbound call, with a new span per call", async () => {
    const api = client((await createTenant()).token);
    const k = `trace-${Date.now()}`;
    const wf = await api.post("/v1/workflows", {
      name: "traced",
      nodes: [
        {
          id: "call",
          kind: "http",
          retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
          config: { url: target(`/flaky/${k}?fail=1`) },
        },
        {
          id: "ask",
          kind: "llm",
          needs: ["call"],
          config: { tier: "mid", messages: [{ role: "user", content: `[[key=${k}]] hi` }] },
        },
      ],
    });
    const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, {}, { traceparent: PARENT });
    expect((await waitFor(api, ex.body.id)).status).toBe("succeeded");
    const httpCalls = (await targetCalls(k)).calls as any[];
    const llmCalls = (
      (await (await fetch(`${env.OPENAI_URL}/_calls/${k}`)).json()) as { calls: { headers: Record<string, string> }[] }
    ).calls;
    const parents = [...httpCalls.map((c) => c.traceparent), ...llmCalls.map((c) => c.headers.traceparent)];
    expect(parents).toHaveLength(3);
    for (const p of parents) expect(p).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(new Set(parents.map((p) => p.split("-")[2])).size).toBe(3);
    expect(parents).not.toContain(PARENT);
  });

  it("starts a trace when the caller sends none, shared by the execution's calls", async () => {
    const api = client((await createTenant()).token);
    const wf = await api.post("/v1/workflows", {
      name: "echo",
      nodes: [
        { id: "a", kind: "http", config: { url: target("/echo/a") } },
        { id: "b", kind: "http", config: { url: target("/echo/b") } },
      ],
    });
    const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, {}, { traceparent: "garbage" });
    const done = await waitFor(api, ex.body.id);
    const [a, b] = done.nodes.map((n: any) => n.output.body.headers.traceparent as string);
    expect(a).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(a!.split("-")[1]).toBe(b!.split("-")[1]);
    expect(a!.split("-")[2]).not.toBe(b!.split("-")[2]);
  });

  it("logs one JSON line per execution state change, joinable by trace_id; node events and received events are not logged", async () => {
    // The Durable Objects run in this isolate, so their log lines pass through this spy.
    const lines: Record<string, unknown>[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      if (typeof line === "string" && line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    try {
      const api = client((await createTenant()).token);
      const wf = await api.post("/v1/workflows", {
        name: "logged",
        nodes: [
          { id: "gate", kind: "wait_for_event", config: { event: "go" } },
          { id: "a", kind: "transform", needs: ["gate"], config: { expression: "1" } },
        ],
      });
      const ex = await api.post(`/v1/workflows/${wf.body.id}/executions`, {}, { traceparent: PARENT });
      expect((await api.post(`/v1/executions/${ex.body.id}/events`, { name: "go" })).status).toBe(202);
      expect((await waitFor(api, ex.body.id)).status).toBe("succeeded");
      // Lines are written after the turn that committed the change: give the last one its turn.
      await new Promise((r) => setTimeout(r, 50));
      const mine = lines.filter((l) => l.execution_id === ex.body.id);
      expect(mine.map((l) => l.msg)).toEqual(["execution.queued", "execution.started", "execution.succeeded"]);
      for (const l of mine)
        expect(l).toMatchObject({
          level: "info",
          trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
          workflow_id: wf.body.id,
        });
      expect(mine.map((l) => l.seq)).toEqual([...mine.map((l) => l.seq)].sort((x, y) => (x as number) - (y as number)));
    } finally {
      spy.mockRestore();
    }
  });
});

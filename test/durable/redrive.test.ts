import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { executionStub } from "../../src/durable/client";
import { client, createTenant, run, target, targetCalls, waitFor } from "../support/api";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;
/** A node factory for `k`'s run: an http node calling the target under `<k>-<id>`, after `needs`. */
const httpNode =
  (k: string) =>
  (id: string, needs: string[] = []) => ({
    id,
    kind: "http",
    needs,
    config: { url: target(`/slow/${k}-${id}?ms=1`) },
  });
/** The Idempotency-Key of each call the target saw under `name`, in order. */
const keysSent = async (name: string) => (await targetCalls(name)).calls.map((c) => c.idempotency_key);
const log = async (api: ReturnType<typeof client>, id: string) =>
  (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];

describe("redrive", () => {
  it("resumes a failed run from its failed node with patched input, keeping completed work and the event log", async () => {
    const api = client((await createTenant()).token);
    const k = key("redrive");
    const { executionId } = await run(
      api,
      {
        name: "r",
        nodes: [
          { id: "prep", kind: "http", config: { url: target(`/slow/${k}-prep?ms=1`) } },
          {
            id: "call",
            kind: "http",
            needs: ["prep"],
            retry: { max_attempts: 2, initial_delay_ms: 10, jitter: false },
            config: { url: "{{ input.url }}" },
          },
          { id: "after", kind: "transform", needs: ["call"], config: { expression: "nodes.call.output.status" } },
        ],
      },
      { url: target(`/status/503/${k}-bad`) },
    );
    const failed = await waitFor(api, executionId);
    expect(failed.status).toBe("failed");
    expect(failed.nodes.map((x: any) => [x.node_id, x.status, x.attempts])).toEqual([
      ["prep", "succeeded", 1],
      ["call", "failed", 2],
      ["after", "skipped", 0],
    ]);
    const before = await log(api, executionId);

    const redriven = await api.post(`/v1/executions/${executionId}/redrive`, {
      input_patch: { url: target(`/echo/${k}-good`) },
    });
    expect(redriven.status).toBe(200);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ after: 200 });
    expect(done.nodes.map((x: any) => [x.node_id, x.status, x.attempts])).toEqual([
      ["prep", "succeeded", 1],
      ["call", "succeeded", 3],
      ["after", "succeeded", 1],
    ]);
    expect((await targetCalls(`${k}-prep`)).calls).toHaveLength(1);
    const after = await log(api, executionId);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.map((e) => e.seq)).toEqual(after.map((_, i) => i + 1));
    expect(after[before.length]).toMatchObject({
      type: "execution.redriven",
      data: { from_node: null, reset: ["call", "after"], input_patched: true },
    });
    expect(done.input.url).toBe(target(`/echo/${k}-good`));
  });

  it("reruns from a named node and everything downstream, even after success", async () => {
    const api = client((await createTenant()).token);
    const k = key("from");
    const node = httpNode(k);
    const { executionId } = await run(api, {
      name: "abc",
      nodes: [node("a"), node("b", ["a"]), node("c", ["b"]), node("side", ["a"])],
    });
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
    expect((await api.post(`/v1/executions/${executionId}/redrive`, {})).body.code).toBe("nothing_to_redrive");
    expect((await api.post(`/v1/executions/${executionId}/redrive`, { from_node: "nope" })).status).toBe(400);
    await api.post(`/v1/executions/${executionId}/redrive`, { from_node: "b" });
    // Evict right away: the redrive is already in storage and its alarm brings the object back.
    await evictDurableObject(executionStub(env, executionId));
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    const calls = (id: string) => keysSent(`${k}-${id}`);
    // Redriven nodes get a new key (a deliberate new try); the rest were not called again.
    expect(await calls("a")).toEqual([`${executionId}:a`]);
    expect(await calls("side")).toEqual([`${executionId}:side`]);
    expect(await calls("b")).toEqual([`${executionId}:b`, `${executionId}:b:r1`]);
    expect(await calls("c")).toEqual([`${executionId}:c`, `${executionId}:c:r1`]);
  });

  it("makes a redrive sent again with its Idempotency-Key the same one: its nodes are not run a third time", async () => {
    const api = client((await createTenant()).token);
    const k = key("once");
    const node = httpNode(k);
    const { executionId } = await run(api, { name: "ab", nodes: [node("a"), node("b", ["a"])] });
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
    const redrive = (body: unknown, idempotencyKey: string) =>
      api.post(`/v1/executions/${executionId}/redrive`, body, { "idempotency-key": idempotencyKey });
    expect((await redrive({ from_node: "b" }, "again-1")).status).toBe(200);
    expect((await waitFor(api, executionId)).status).toBe("succeeded");
    // The client lost the answer and sends it again, after the redrive has run: the same redrive, not another.
    const again = await redrive({ from_node: "b" }, "again-1");
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual({ id: executionId, status: "succeeded" });
    const reused = await redrive({ from_node: "a" }, "again-1");
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe("idempotency_key_reused");
    const calls = (id: string) => keysSent(`${k}-${id}`);
    expect(await calls("b")).toEqual([`${executionId}:b`, `${executionId}:b:r1`]);
  });

  it("makes a bulk redrive sent again with its Idempotency-Key the same one: what it redrove is not redriven again", async () => {
    const api = client((await createTenant()).token);
    const k = key("bulk");
    const { executionId } = await run(api, {
      name: "fails",
      nodes: [
        { id: "call", kind: "http", retry: { max_attempts: 1 }, config: { url: target(`/status/503/${k}-call`) } },
      ],
    });
    const failed = await waitFor(api, executionId);
    expect(failed.status).toBe("failed");
    const body = { filter: { workflow_id: failed.workflow_id, status: "failed" }, limit: 10 };
    const bulk = () => api.post("/v1/executions/bulk/redrive", body, { "idempotency-key": `${k}-1` });
    expect((await bulk()).body.changed).toEqual([executionId]);
    expect((await waitFor(api, executionId)).status).toBe("failed");
    // Failed again, it matches the filter again; the retry of the same bulk request does not redrive it again.
    expect((await bulk()).body.changed).toEqual([executionId]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await api.get(`/v1/executions/${executionId}`)).body.status).toBe("failed");
    expect(await keysSent(`${k}-call`)).toEqual([`${executionId}:call`, `${executionId}:call:r1`]);
  });

  it("refuses to redrive an execution that has not finished", async () => {
    const api = client((await createTenant()).token);
    const { executionId } = await run(api, {
      name: "w",
      nodes: [{ id: "w", kind: "wait_for_event", config: { event: "x" } }],
    });
    const res = await api.post(`/v1/executions/${executionId}/redrive`, {});
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("execution_not_finished");
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";

// A pipeline whose recorded run the checks replay: an http call, a prompt built from its answer, a transform.
const pipeline = (prompt: string, extra: Record<string, unknown>[] = []) => ({
  name: "replayed",
  nodes: [
    { id: "fetch", kind: "http", config: { url: target("/echo/replay?topic={{ input.topic }}") } },
    {
      id: "post",
      kind: "http",
      needs: ["fetch"],
      config: {
        url: target("/echo/replay-post"),
        method: "POST",
        headers: { authorization: "Bearer {{ secrets.REPLAY_TOKEN }}" },
        body: { text: prompt },
      },
    },
    { id: "shape", kind: "transform", needs: ["post"], config: { expression: "nodes.fetch.status" } },
    ...extra,
  ],
});

describe("golden replay (POST /v1/replay-checks)", () => {
  it("says per node whether a new definition would give it another resolved input, running nothing", async () => {
    const api = client((await createTenant()).token);
    await api.put("/v1/secrets/REPLAY_TOKEN", { value: "s3cr3t-token" });
    const { executionId } = await run(api, pipeline("About {{ input.topic }}"), { topic: "tides" });
    expect((await waitFor(api, executionId)).status).toBe("succeeded");

    // The same definition, and one with only a new downstream node: nothing that ran would change.
    const same = await api.post("/v1/replay-checks", {
      definition: pipeline("About {{ input.topic }}"),
      executions: [executionId],
    });
    expect(same.status).toBe(200);
    expect(same.body.ok).toBe(true);
    expect(same.body.executions[0].nodes.map((n: any) => [n.node_id, n.verdict])).toEqual([
      ["fetch", "unchanged"],
      ["post", "unchanged"],
      ["shape", "unchanged"],
    ]);
    const added = await api.post("/v1/replay-checks", {
      definition: pipeline("About {{ input.topic }}", [
        { id: "extra", kind: "transform", needs: ["shape"], config: { expression: "1" } },
      ]),
      executions: [executionId],
    });
    expect(added.body.ok).toBe(true);
    expect(added.body.executions[0].nodes.at(-1)).toMatchObject({ node_id: "extra", verdict: "new" });

    // An edited prompt changes what `post` would send; the secret is compared by name, never shown.
    const edited = await api.post("/v1/replay-checks", {
      definition: pipeline("Write about {{ input.topic }}"),
      executions: [executionId],
    });
    expect(edited.body.ok).toBe(false);
    const post = edited.body.executions[0].nodes.find((n: any) => n.node_id === "post");
    expect(post).toMatchObject({ verdict: "changed", detail: "config.body.text" });
    expect(post.before.config.body.text).toBe("About tides");
    expect(post.after.config.body.text).toBe("Write about tides");
    expect(JSON.stringify(edited.body)).not.toContain("s3cr3t-token");
    expect(edited.body.executions[0].failing).toBe(1);

    // A template that reads what the recorded run never had: broken, and the check fails.
    const broken = await api.post("/v1/replay-checks", {
      definition: pipeline("About {{ input.subject }}"),
      executions: [executionId],
    });
    expect(broken.body.executions[0].nodes.find((n: any) => n.node_id === "post")).toMatchObject({ verdict: "broken" });
    // Nothing ran: the run has the events it had.
    const events = (await api.get(`/v1/executions/${executionId}/events?after=0&limit=1000`)).body.data;
    expect(events.filter((e: any) => e.type === "node.started")).toHaveLength(3);
  });

  it("refuses an invalid definition with its paths, and an unknown execution with its index", async () => {
    const api = client((await createTenant()).token);
    const bad = await api.post("/v1/replay-checks", {
      definition: { name: "x", nodes: [{ id: "a", kind: "http", config: {} }] },
      executions: ["ex_1"],
    });
    expect([bad.status, bad.body.code]).toEqual([400, "invalid_definition"]);
    expect(bad.body.errors[0].path).toBe("definition.nodes[0].config.url");
    const unknown = await api.post("/v1/replay-checks", {
      definition: pipeline("x"),
      executions: ["ex_01ZZZZZZZZZZZZZZZZZZZZZZZZ"],
    });
    expect([unknown.status, unknown.body.code, unknown.body.errors[0].path]).toEqual([
      404,
      "execution_not_found",
      "executions[0]",
    ]);
    expect((await api.post("/v1/replay-checks", { definition: pipeline("x"), executions: [] })).status).toBe(400);
  });
});

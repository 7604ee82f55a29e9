import { env, exports } from "cloudflare:workers";
import { strFromU8, unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { client, createTenant, mailbox, target, targetCalls, waitFor, waitForNode, type Client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

let n = 0;
const key = (name: string) => `${name}-${Date.now()}-${++n}`;

async function instantiate(api: Client, name: string): Promise<string> {
  const res = await api.post(`/v1/templates/${name}/instantiate`, {});
  expect(res.status).toBe(201);
  expect(res.body.template).toBe(name);
  return res.body.id;
}

const start = async (api: Client, wf: string, input: unknown) => {
  const res = await api.post(`/v1/workflows/${wf}/executions`, { input });
  expect(res.status).toBe(201);
  return res.body.id as string;
};

async function orders(bucket: string): Promise<{ id: string; body: any }[]> {
  return ((await (await fetch(target(`/_orders/${bucket}`))).json()) as { orders: { id: string; body: any }[] }).orders;
}

interface ModelCall {
  system: string;
  turns: { role: string; text: string }[];
  stream: boolean;
}

/** The model calls under a key at every provider's server, as each reduces to system, turns and stream. */
async function modelCalls(k: string): Promise<ModelCall[]> {
  const servers = [env.OPENAI_URL, env.ANTHROPIC_URL, env.GOOGLE_URL, env.BEDROCK_URL];
  const each = await Promise.all(
    servers.map(async (base) => ((await (await fetch(`${base}/_calls/${k}`)).json()) as { calls: ModelCall[] }).calls),
  );
  return each.flat();
}

const llmCalls = async (k: string) => (await modelCalls(k)).length;

describe("templates API", () => {
  it("lists the templates and instantiates one as the tenant's own workflow", async () => {
    const api = client((await createTenant()).token);
    const list = (await api.get("/v1/templates")).body.data;
    expect(list.map((t: any) => t.name)).toEqual([
      "question-pipeline",
      "sdlc-parallel",
      "draft-and-monitor",
      "order-intake",
      "code-fix-queue",
      "chat-turn",
      "support-chat",
      "code-review",
    ]);
    expect(list[0].input_schema.required).toEqual(["topic"]);
    const renamed = await api.post("/v1/templates/order-intake/instantiate", { name: "my orders" });
    expect(renamed.body).toMatchObject({ name: "my orders", version: 1 });
    expect((await api.get(`/v1/workflows/${renamed.body.id}`)).body.definition.nodes.map((x: any) => x.id)).toEqual([
      "catalog",
      "intake",
      "order",
      "choose_outlet",
      "outlet",
      "create_order",
      "confirm",
    ]);
    expect((await api.post("/v1/templates/nope/instantiate", {})).body.code).toBe("template_not_found");
  });
});

describe("question-pipeline", () => {
  it("maps over the categories the model proposes: draft, critique, revise and a reward per question", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "question-pipeline");
    const k = key("quiz");
    // Four categories this time (not a fixed three), a 429 with Retry-After on the first call, a reward per category.
    const directives =
      `[[key=${k}]] [[fail@categories=1:429:1]] [[json@categories={"categories":["easy","medium","hard","expert"]}]] ` +
      `[[json@score-easy={"reward":0.4}]] [[json@score-medium={"reward":0.9}]] [[json@score-hard={"reward":0.7}]] [[json@score-expert={"reward":0.2}]]`;
    const done = await waitFor(api, await start(api, wf, { topic: `tides ${directives}` }), undefined, 60_000);
    expect(done.status).toBe("succeeded");
    expect(done.nodes.map((x: any) => [x.node_id, x.status])).toEqual([
      ["categories", "succeeded"],
      ["draft", "succeeded"],
      ["critique", "succeeded"],
      ["revise", "succeeded"],
      ["score", "succeeded"],
      ["assemble", "succeeded"],
    ]);
    expect(done.nodes[0].attempts).toBe(2);
    for (const map of ["draft", "critique", "revise", "score"])
      expect(done.nodes.find((x: any) => x.node_id === map).items).toMatchObject({ total: 4, succeeded: 4 });
    const out = done.output.assemble;
    expect(out.topic).toMatch(/^tides /);
    expect(out.questions.map((q: any) => [q.category, q.reward])).toEqual([
      ["easy", 0.4],
      ["medium", 0.9],
      ["hard", 0.7],
      ["expert", 0.2],
    ]);
    // The texts themselves, not indexes into a blob: each revision was asked about its own draft and critique.
    expect(out.questions[1].question).toMatch(
      /^echo: Topic: tides\s+\. Question: echo: Topic: tides\s+\. Write one quiz question at difficulty "medium"\./,
    );
    expect(out.best).toEqual(out.questions[1]);
    // Every answered call is in the usage (the 429 answered nothing and cost nothing).
    expect(done.usage.llm_calls).toBe(1 + 4 * 4);
  });
});

/** The deliver node's output (a listing of every file with its role); the run's own output is its last nodes'. */
const deliverOf = (done: any) => done.nodes.find((x: any) => x.node_id === "deliver").output;

describe("sdlc-parallel", () => {
  const files = `[[json={"files":[{"path":"notes.md","content":"ok"}]}]]`;
  const review = (score: number, feedback: string) => `[[json@review={"score":${score},"feedback":"${feedback}"}]]`;

  it("runs the roles, backend and frontend in parallel, and lists every file with its role when the review passes", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "sdlc-parallel");
    const done = await waitFor(
      api,
      await start(api, wf, { project: `todo app ${files} ${review(0.9, "fine")}` }),
      undefined,
      30_000,
    );
    expect(done.status).toBe("succeeded");
    const byId = Object.fromEntries(done.nodes.map((x: any) => [x.node_id, x]));
    for (const phase of ["requirements", "design", "backend", "frontend", "tests"])
      expect(byId[phase].output.json.files).toEqual([{ path: "notes.md", content: "ok" }]);
    expect(Date.parse(byId.frontend.started_at)).toBeLessThan(Date.parse(byId.backend.finished_at));
    expect([byId.revision.status, byId.rereview.status]).toEqual(["skipped", "skipped"]);
    expect(deliverOf(done)).toMatchObject({ revised: false, score: 0.9, feedback: "fine" });
    expect(deliverOf(done).files.map((f: any) => f.role)).toEqual([
      "analyst",
      "architect",
      "developers",
      "developers",
      "tester",
    ]);
  });

  it("sends the work back for one revision when the reviewer scores it under min_score", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "sdlc-parallel");
    const k = key("revise");
    const project = `todo app [[key=${k}]] ${files} ${review(0.4, "validate the input")} [[json@revision={"files":[{"path":"api.ts","content":"validated"}]}]] [[json@rereview={"score":0.85,"feedback":"good"}]]`;
    const done = await waitFor(api, await start(api, wf, { project }), undefined, 30_000);
    expect(done.status).toBe("succeeded");
    expect(deliverOf(done)).toMatchObject({ revised: true, score: 0.85, feedback: "validate the input" });
    expect(deliverOf(done).files.filter((f: any) => f.role === "developers (revised)")).toEqual([
      { role: "developers (revised)", path: "api.ts", chars: 9 },
    ]);
    const revision = (await modelCalls(k)).find((c) => `${c.system}\n${c.turns[0]?.text}`.includes("TASK: revision."));
    expect(revision?.turns.at(-1)?.text).toContain("and asks: validate the input");
  });

  it("delivers the files as artifacts (a list and one zip), runs the generated tests, and scores each role", async () => {
    const { token } = await createTenant();
    const api = client(token);
    const wf = await instantiate(api, "sdlc-parallel");
    const bucket = key("runner");
    const code = `{"files":[{"path":"src/sum.mjs","content":"export const sum = (a, b) => a + b;"}]}`;
    const tests =
      `{"files":[{"path":"tests/sum.test.mjs","content":"import { test } from 'node:test'; import assert from 'node:assert'; ` +
      `import { sum } from '../src/sum.mjs'; test('adds', () => assert.equal(sum(1, 2), 3)); test('wrong', () => assert.equal(sum(1, 1), 3));"}]}`;
    const reviewed = `[[json@review={"score":0.9,"feedback":"fine","role_scores":{"analyst":0.8,"architect":0.6,"developers":0.9,"tester":0.7}}]]`;
    const project = `sum lib ${files} ${reviewed} [[json@backend=${code}]] [[json@tests=${tests}]]`;
    const id = await start(api, wf, { project, runner_url: target(`/runner/${bucket}`) });
    const done = await waitFor(api, id, undefined, 60_000);
    expect(done.status).toBe("succeeded");
    // The generated tests really ran: one passes, one fails.
    expect(done.output.scores).toEqual({
      verified: true,
      revised: false,
      // The roles tests cannot judge are scored by the reviewer; the developers and the tester by the tests.
      scores: { analyst: 0.8, architect: 0.6, developers: 0.5, tester: 1, reviewer: 0.9 },
      tests: { passed: 1, failed: 1 },
    });
    const listed = await api.get(`/v1/executions/${id}/artifacts`);
    expect(listed.body.data.map((f: any) => `${f.node_id}/${f.path}`).sort()).toEqual([
      "deliver/analyst/notes.md",
      "deliver/architect/notes.md",
      "deliver/backend/src/sum.mjs",
      "deliver/frontend/notes.md",
      "deliver/tests/tests/sum.test.mjs",
    ]);
    const zip = await exports.default.fetch(`http://edgeflow.test/v1/executions/${id}/artifacts.zip`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(zip.status).toBe(200);
    expect(zip.headers.get("content-type")).toBe("application/zip");
    const entries = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    expect(Object.keys(entries).sort()).toEqual(listed.body.data.map((f: any) => `${f.node_id}/${f.path}`).sort());
    expect(strFromU8(entries["deliver/backend/src/sum.mjs"]!)).toBe("export const sum = (a, b) => a + b;");
    // The scores are a result: per role, over time.
    const results = await api.get(`/v1/results?workflow=${wf}&name=scores`);
    expect(results.body.data[0].value.scores.developers).toBe(0.5);
    // Erasing the run erases its files.
    await api.del(`/v1/executions/${id}`);
    expect((await env.ARTIFACTS.list({ prefix: `executions/${id}/` })).objects).toEqual([]);
  });

  it("keeps a multi-file answer too large for a row in R2 and still delivers it", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "sdlc-parallel");
    const big = "x".repeat(300_000);
    const project = `todo app ${files} ${review(0.9, "fine")} [[json@backend={"files":[{"path":"server.ts","content":"${big}"},{"path":"db.ts","content":"ok"}]}]]`;
    const done = await waitFor(api, await start(api, wf, { project }), undefined, 60_000);
    expect(done.status).toBe("succeeded");
    const backend = done.nodes.find((x: any) => x.node_id === "backend");
    expect(backend.output.$ref).toMatch(/^r2:\/\/executions\//);
    expect(
      deliverOf(done)
        .files.filter((f: any) => f.role === "developers")
        .map((f: any) => [f.path, f.chars]),
    ).toEqual([
      ["server.ts", 300_000],
      ["db.ts", 2],
      ["notes.md", 2],
    ]);
  });

  it("stops the remaining phases when cancelled mid-run", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "sdlc-parallel");
    const k = key("sdlc");
    const id = await start(api, wf, { project: `todo app [[key=${k}]] [[slow@backend=4000]] ${files}` });
    await waitForNode(api, id, "backend", "running");
    await waitForNode(api, id, "frontend", "succeeded");
    expect((await api.post(`/v1/executions/${id}/cancel`)).body.status).toBe("cancelled");
    const done = await waitFor(api, id);
    expect(done.nodes.map((x: any) => [x.node_id, x.status])).toEqual([
      ["requirements", "succeeded"],
      ["design", "succeeded"],
      ["backend", "cancelled"],
      ["frontend", "succeeded"],
      ["tests", "cancelled"],
      ["review", "cancelled"],
      ["revision", "cancelled"],
      ["rereview", "cancelled"],
      ["deliver", "cancelled"],
      ["verify", "cancelled"],
      ["scores", "cancelled"],
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await llmCalls(k)).toBe(4);
  });
});

describe("draft-and-monitor", () => {
  const clientOf = (k: string) => `forum${k.replace(/[^a-z0-9]/gi, "")}`;
  const limits = (k: string, limit: number) =>
    fetch(target("/forum/_limits"), {
      method: "POST",
      body: JSON.stringify({ client: clientOf(k), limit, window_s: 3600 }),
    });
  /** A client at the forum's identity provider, the tenant's connection to it, and a run of the template. */
  async function publish(api: Client, k: string, title: string) {
    const clientId = clientOf(k);
    await fetch(target("/oauth/_clients"), {
      method: "POST",
      body: JSON.stringify({ client_id: clientId, client_secret: "forum-secret" }),
    });
    const connection = `forum-${n}`;
    expect(
      (
        await api.put(`/v1/connections/${connection}`, {
          grant: "client_credentials",
          token_url: target("/oauth/token"),
          client_id: clientId,
          client_secret: "forum-secret",
          scope: "submit read",
        })
      ).status,
    ).toBe(201);
    const wf = await instantiate(api, "draft-and-monitor");
    const id = await start(api, wf, {
      campaign: `spring sale [[json@draft=${JSON.stringify({ title, body: "Twenty percent off everything" })}]]`,
      publish_url: target("/forum/api/submit"),
      connection,
      user_agent: "edgeflow-monitor/1.0 (by u/tests)",
      alert_webhook_url: target(`/hooks/${k}`),
      alert_email: [`social-${k}@example.com`],
      check_interval_hours: 1,
      watch_days: 14,
      approvers: [`editor-${k}@example.com`],
    });
    // Nothing is published before the editor approves the draft; the emailed link decides.
    await waitForNode(api, id, "review", "waiting");
    const [asked] = await mailbox(`editor-${k}@example.com`);
    expect(asked?.subject).toBe(`Approval needed: Publish "${title}"?`);
    const link = /http:\/\/edgeflow\.test\/approve\/\S+/.exec(asked?.text ?? "")?.[0] as string;
    const decided = await exports.default.fetch(link, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "decision=approve",
    });
    expect(decided.status).toBe(200);
    const done = await waitFor(api, id);
    expect(done.status).toBe("succeeded");
    const monitorId = done.nodes[3].output.monitor_id as string;
    // The node's output never carries the signing secret; its owner gets one by rotating it.
    expect(JSON.stringify(done.nodes[3].output)).not.toContain("whsec_");
    const { webhook_secret } = (await api.post(`/v1/monitors/${monitorId}/secret`)).body;
    await fetch(target(`/_hooks/${k}`), { method: "POST", body: JSON.stringify({ secret: webhook_secret }) });
    return { done, monitorId, inbox: `social-${k}@example.com` };
  }
  const hooks = async (k: string) =>
    ((await (await fetch(target(`/_hooks/${k}`))).json()) as { deliveries: any[] }).deliveries.map((d) => d.body.type);

  it("publishes through the forum's OAuth API, and tells a rate-limited check from a removed post, by webhook and email", async () => {
    const api = client((await createTenant()).token);
    const k = key("post");
    await limits(k, 1000);
    const { done, monitorId, inbox } = await publish(api, k, "Tom & Jerry's spring sale");
    const post = done.nodes[2].output.body as { id: string; url: string };
    const monitor = (await api.get(`/v1/monitors/${monitorId}`)).body;
    expect(monitor).toMatchObject({
      name: "post Tom & Jerry's spring sale",
      interval_seconds: 3600,
      failure_threshold: 2,
      check: {
        url: post.url,
        connection: expect.stringMatching(/^forum-/),
        headers: { "user-agent": "edgeflow-monitor/1.0 (by u/tests)" },
        expect: { body_contains: "Tom & Jerry's spring sale", body_not_contains: "[removed]" },
      },
      alert: { email: [inbox] },
    });
    const watched = Date.parse(monitor.expires_at) - Date.parse(done.finished_at);
    expect(Math.abs(watched - 14 * 24 * 60 * MINUTE)).toBeLessThan(MINUTE);

    const outcomes = async () =>
      ((await api.get(`/v1/monitors/${monitorId}/checks`)).body.data as { outcome: string }[])
        .map((c) => c.outcome)
        .reverse();
    let t = Date.parse(monitor.next_check_at);
    const hour = async () => {
      await tick(t);
      t += 60 * MINUTE;
    };
    // Up: the listing's title is HTML-escaped (Tom &amp; Jerry&#39;s) and still matches.
    await hour();
    // The forum rate-limits the client (429 + Retry-After): three checks that cannot see make it unreachable, never down.
    await limits(k, 0);
    for (let i = 0; i < 3; i++) await hour();
    expect((await api.get(`/v1/monitors/${monitorId}`)).body.status).toBe("unreachable");
    await limits(k, 1000);
    await hour();
    // A moderator removes the post: the page still answers 200 with [removed]; two such checks are down.
    await fetch(target(`/forum/_posts/${post.id}/remove`), { method: "POST" });
    await hour();
    await hour();
    expect(await outcomes()).toEqual(["up", "unreachable", "unreachable", "unreachable", "up", "gone", "gone"]);
    expect((await api.get(`/v1/monitors/${monitorId}`)).body.status).toBe("down");
    const told = ["monitor.unreachable", "monitor.up", "monitor.down"];
    expect(await hooks(k)).toEqual(told);
    const mail = await mailbox(inbox, 3);
    expect(mail.map((m) => m.subject)).toEqual(
      ["cannot be reached", "is up again", "is down"].map((s) => `[Edgeflow] post Tom & Jerry's spring sale ${s}`),
    );
    expect(mail[0]!.text).toContain("HTTP 429 (Retry-After:");
    expect(mail[2]!.text).toContain('body_not_contains "[removed]": found');
  });

  it("sees a shadow-banned post (200, the listing empty) as down", async () => {
    const api = client((await createTenant()).token);
    const k = key("shadow");
    await limits(k, 1000);
    const { done, monitorId } = await publish(api, k, "Launch notes");
    await fetch(target(`/forum/_posts/${done.nodes[2].output.body.id}/shadowban`), { method: "POST" });
    let t = Date.parse((await api.get(`/v1/monitors/${monitorId}`)).body.next_check_at);
    for (let i = 0; i < 2; i++, t += 60 * MINUTE) await tick(t);
    expect((await api.get(`/v1/monitors/${monitorId}`)).body.status).toBe("down");
    expect(await hooks(k)).toEqual(["monitor.down"]);
  });

  it("publishes nothing when the editor rejects the draft", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "draft-and-monitor");
    const k = key("rejected");
    const id = await start(api, wf, {
      campaign: `spring sale [[json@draft=${JSON.stringify({ title: "Too loud", body: "BUY NOW" })}]]`,
      publish_url: target(`/forum/api/submit`),
      connection: `forum-${k}`,
      alert_webhook_url: target(`/hooks/${k}`),
      alert_email: [`social-${k}@example.com`],
      approvers: ["editor"],
    });
    await waitForNode(api, id, "review", "waiting");
    const [asked] = (await api.get(`/v1/approvals?execution_id=${id}&assignee=editor`)).body.data;
    const no = await api.post(`/v1/approvals/${asked.id}/decisions`, {
      as: "editor",
      decision: "reject",
      comment: "tone it down",
    });
    expect(no.body.settled).toBe(true);
    const done = await waitFor(api, id);
    expect(done.nodes.map((x: any) => [x.node_id, x.status])).toEqual([
      ["draft", "succeeded"],
      ["review", "succeeded"],
      ["publish", "skipped"],
      ["watch", "skipped"],
      ["post", "skipped"],
    ]);
    expect(done.nodes[1].output.decisions[0]).toMatchObject({ approver: "editor", comment: "tone it down" });
    expect((await api.get("/v1/monitors")).body.data).toEqual([]);
  });
});

describe("order-intake", () => {
  /** The agent's turns, one per step: tool calls (NAME:{json}, several joined by &) or the final answer. */
  const agent = (...steps: string[]) => `[[agent=${steps.join("|")}]]`;
  const submit = (lines: [string, number][], outlet: string, notes = "") =>
    `submit_order:${JSON.stringify({ line_items: lines.map(([sku, qty]) => ({ sku, qty })), outlet, notes })}`;
  const base = (k: string) => ({ catalog_url: target(""), orders_url: target(`/orders/${k}`) });

  it("finds '100 ten-inch pizza boxes' in the catalog, prices the order with a total, and creates it once", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    const k = key("boxes");
    const id = await start(api, wf, {
      message: `100 ten-inch pizza boxes for Harbour Street please [[key=${k}]] ${agent(
        'search_catalog:{"query":"ten-inch pizza boxes"}',
        submit([["PB-10", 100]], "o-1"),
        "Done: {results}",
      )}`,
      ...base(k),
    });
    const done = await waitFor(api, id, undefined, 30_000);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const turns = done.nodes.find((x: any) => x.node_id === "intake").output.turns;
    // The search matched the customer's words to the 10-inch box first, the 12-inch second.
    expect(turns[0].tool_calls[0].output.matches.map((m: any) => m.sku)).toEqual(["PB-10", "PB-12"]);
    expect(done.output.confirm).toEqual({
      reply: expect.stringMatching(/^Order ord-\d+ at Harbour Street: 100 item\(s\), total 42\.00\.$/),
      order_id: expect.stringMatching(/^ord-\d+$/),
      total: 42,
    });
    expect((await orders(k)).map((o) => o.body)).toEqual([
      { outlet_id: "o-1", line_items: [{ sku: "PB-10", qty: 100 }], total: 42, notes: "" },
    ]);
    // The model saw the catalog's answer before it chose a SKU.
    const calls = await modelCalls(k);
    expect(calls).toHaveLength(3);
  });

  it("takes 10 different orders; the client's outlet wins over the model's guess", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    const k = key("orders");
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        start(api, wf, {
          message: `order ${i} [[key=${k}-${i}]] ${agent(
            'search_catalog:{"query":"flat whites"}',
            submit([["flat-white", i + 1]], "o-2", "pickup"),
            "Ordered.",
          )}`,
          outlet_id: "o-1",
          ...base(k),
        }),
      ),
    );
    const results = await Promise.all(ids.map((id) => waitFor(api, id, undefined, 30_000)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill("succeeded"));
    const book = await orders(k);
    expect(book).toHaveLength(10);
    expect(new Set(book.map((o) => o.body.outlet_id))).toEqual(new Set(["o-1"]));
    expect(results[3].output.confirm.reply).toMatch(/^Order ord-\d+ at Harbour Street: 4 item\(s\), total 12\.80\.$/);
  });

  it("never creates a second order when the creation call is retried", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    // Tighten the create_order timeout so the slow first answer forces a retry (version 2 of the same workflow).
    const def = (await api.get(`/v1/workflows/${wf}`)).body.definition;
    const create = def.nodes.find((x: any) => x.id === "create_order");
    Object.assign(create, {
      timeout_ms: 300,
      retry: { max_attempts: 3, initial_delay_ms: 10, backoff_coefficient: 2, max_delay_ms: 100, jitter: false },
    });
    expect((await api.put(`/v1/workflows/${wf}`, def)).body.version).toBe(2);
    const k = key("retry-order");
    const id = await start(api, wf, {
      message: `one latte [[key=${k}]] ${agent(submit([["latte", 1]], "o-1"), "Ordered.")}`,
      catalog_url: target(""),
      orders_url: target(`/orders/${k}?delay_first=1000`),
    });
    const done = await waitFor(api, id, undefined, 30_000);
    expect(done.status).toBe("succeeded");
    expect(done.nodes.find((x: any) => x.node_id === "create_order").attempts).toBe(2);
    const calls = (await targetCalls(`orders-${k}`)).calls;
    expect(calls).toHaveLength(2);
    expect(new Set(calls.map((c) => c.idempotency_key))).toEqual(new Set([`${id}:create_order`]));
    expect(((await (await fetch(target(`/_orders/${k}`))).json()) as { orders: unknown[] }).orders).toHaveLength(1);
  });

  it("fails clearly without an outlet, and on an unknown one, and orders nothing", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    const k = key("no-outlet");
    const none = await waitFor(
      api,
      await start(api, wf, { message: `x [[key=${k}-a]] ${agent(submit([["latte", 1]], ""), "Ok.")}`, ...base(k) }),
    );
    expect(none.status).toBe("failed");
    const choose = none.nodes.find((x: any) => x.node_id === "choose_outlet");
    expect(choose.error.message).toMatch(/no outlet: the client selected none and the customer named none/);
    expect(none.nodes.filter((x: any) => x.status === "skipped").map((x: any) => x.node_id)).toEqual([
      "outlet",
      "create_order",
    ]);
    const unknown = await waitFor(
      api,
      await start(api, wf, {
        message: `x [[key=${k}-b]] ${agent(submit([["latte", 1]], "o-2"), "Ok.")}`,
        outlet_id: "o-9",
        ...base(k),
      }),
    );
    expect(unknown.nodes.find((x: any) => x.node_id === "outlet")).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "http_404" },
    });
    expect(await orders(k)).toEqual([]);
  });
});

describe("order-intake: clarification and the catalog", () => {
  const base = (k: string) => ({ catalog_url: target(""), orders_url: target(`/orders/${k}`) });

  it("asks the customer when something is unclear, waits for the answer inside the run, and orders what it settles", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    const k = key("unsure");
    const script = [
      'search_catalog:{"query":"latte"}',
      'ask_customer:{"question":"Which outlet, Harbour Street or Market Square?"}',
      'submit_order:{"line_items":[{"sku":"latte","qty":1}],"outlet":"o-2","notes":"oat milk"}',
      "Ordered: {results}",
    ].join("|");
    const id = await start(api, wf, { message: `a latte please [[key=${k}]] [[agent=${script}]]`, ...base(k) });
    await waitForNode(api, id, "intake", "waiting");
    const waiting = (await api.get(`/v1/executions/${id}`)).body;
    expect(waiting.nodes.find((x: any) => x.node_id === "intake").waiting_for).toMatchObject({
      event: "ask_customer:intake:t2.c0",
    });
    const log = (await api.get(`/v1/executions/${id}/events?limit=1000`)).body.data as any[];
    expect(log.find((e) => e.type === "node.waiting").data.detail).toEqual({
      ask: {
        step: "t2.c0",
        tool: "ask_customer",
        input: { question: "Which outlet, Harbour Street or Market Square?" },
      },
    });
    // Nothing is ordered while the question is open, and the wait ends inside the run's own timeout.
    expect(await orders(k)).toEqual([]);
    const until = Date.parse(log.find((e) => e.type === "node.waiting").data.until);
    expect(until).toBeLessThan(Date.parse(waiting.created_at) + 900_000);
    await api.post(`/v1/executions/${id}/events`, {
      name: "ask_customer:intake:t2.c0",
      payload: { answer: "Market Square" },
    });
    const done = await waitFor(api, id);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output.confirm.reply).toMatch(/^Order ord-\d+ at Market Square: 1 item\(s\), total 3\.50\.$/);
    expect((await orders(k)).map((o) => o.body)).toEqual([
      { outlet_id: "o-2", line_items: [{ sku: "latte", qty: 1 }], total: 3.5, notes: "oat milk" },
    ]);
    // The model was given the customer's answer as the question's result.
    const calls = await modelCalls(k);
    expect(JSON.stringify(calls[2])).toContain("Market Square");
  });

  it("tells the model an item is not in the catalog before anything is created, and answers a non-order in one call", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "order-intake");
    const k = key("sku");
    const script = [
      'submit_order:{"line_items":[{"sku":"flat-white","qty":1},{"sku":"unicorn-frappe","qty":2}],"outlet":"o-1"}',
      'search_catalog:{"query":"unicorn frappe"}',
      "Sorry, we have no unicorn frappe. {results}",
    ].join("|");
    const done = await waitFor(
      api,
      await start(api, wf, { message: `x [[key=${k}]] [[agent=${script}]]`, ...base(k) }),
    );
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const calls = done.nodes.find((x: any) => x.node_id === "intake").output.turns.flatMap((t: any) => t.tool_calls);
    expect(calls[0]).toMatchObject({ name: "submit_order", status: "error" });
    expect(calls[0].error.message).toContain("not in the catalog: unicorn-frappe");
    expect(calls[1].output).toEqual({ query: "unicorn frappe", matches: [] });
    expect(done.output.confirm.reply).toContain("Sorry, we have no unicorn frappe.");
    expect(await orders(k)).toEqual([]);

    const chat = `What time do you open? [[key=${k}-chat]] [[agent=We open at 7.]]`;
    const answered = await waitFor(api, await start(api, wf, { message: chat, ...base(k) }));
    expect(answered.status).toBe("succeeded");
    expect(answered.output.confirm).toEqual({ reply: "We open at 7." });
    expect(await llmCalls(`${k}-chat`)).toBe(1);
    expect(answered.nodes.filter((x: any) => x.status === "skipped").map((x: any) => x.node_id)).toEqual([
      "choose_outlet",
      "outlet",
      "create_order",
    ]);
  });
});

describe("code-fix-queue", () => {
  const patch = (p: string) => `[[json@propose-patch={"patch":"${p}","summary":"return 42"}]]`;
  const input = (k: string, file: string, p: string) => ({
    file_path: file,
    issue: `answer() returns 41 ${patch(p)}`,
    repo_url: target(`/repo/${k}`),
  });

  it("reads, proposes, applies one run per file at a time, and verifies; other files run alongside", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-fix-queue");
    const k = key("repo");
    const ids = [
      await start(api, wf, input(k, "src/a.ts", "p1")),
      await start(api, wf, input(k, "src/a.ts", "p2")),
      await start(api, wf, input(k, "src/b.ts", "p3")),
      await start(api, wf, input(k, "src/a.ts", "p4")),
    ];
    const runs = await Promise.all(ids.map((id) => waitFor(api, id, undefined, 30_000)));
    for (const r of runs) expect(r.status).toBe("succeeded");
    expect(runs[0].output.result).toEqual({
      file_path: "src/a.ts",
      summary: "return 42",
      patch: "p1",
      verification: "tsc: 0 errors",
      rounds: 1,
    });
    const a = (await targetCalls(`repo-${k}-src/a.ts`)).calls.sort((x, y) => x.started_at - y.started_at);
    const [b] = (await targetCalls(`repo-${k}-src/b.ts`)).calls;
    expect(a).toHaveLength(3);
    for (let i = 1; i < a.length; i++) expect(a[i]!.started_at).toBeGreaterThanOrEqual(a[i - 1]!.finished_at!);
    expect(b!.started_at).toBeLessThan(a[0]!.finished_at!);
    expect((await targetCalls(`verify-${k}-src/a.ts`)).calls).toHaveLength(3);
    // The model was shown the file as the repository had it.
    const prompts = await modelCalls("default");
    expect(prompts.some((c) => c.turns[0]?.text.includes("export const answer = 41;"))).toBe(true);
  });

  const fileOf = async (k: string, path: string) =>
    ((await (await fetch(target(`/repo/${k}/files?path=${encodeURIComponent(path)}`))).json()) as { content: string })
      .content;

  it("reverts a patch that does not verify and has the model propose again with the checker's output", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-fix-queue");
    const k = key("again");
    const issue = `answer() returns 41 [[json@propose-patch={"patch":"BROKEN-1","summary":"first try"}]] [[json@propose-patch-2={"patch":"p-good","summary":"return 42"}]]`;
    const done = await waitFor(
      api,
      await start(api, wf, { file_path: "src/d.ts", issue, repo_url: target(`/repo/${k}`) }),
      undefined,
      30_000,
    );
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output.result).toEqual({
      file_path: "src/d.ts",
      summary: "return 42",
      patch: "p-good",
      verification: "tsc: 0 errors",
      rounds: 2,
    });
    // The failed patch is gone from the file; the good one is there.
    expect(await fileOf(k, "src/d.ts")).toBe("export const answer = 41;\n// applied: p-good\n");
    expect((await targetCalls(`revert-${k}-src/d.ts`)).calls).toHaveLength(1);
    // The second proposal was asked with the first patch and what the checker said about it.
    const second = (await modelCalls("default")).find((c) => c.system.includes("TASK: propose-patch-2."));
    expect(second?.turns[0]?.text).toContain("BROKEN-1");
    expect(second?.turns[0]?.text).toContain("src/d.ts(2,1): error TS1005: ';' expected.");
    expect(done.nodes.filter((x: any) => x.status === "skipped").map((x: any) => x.node_id)).toEqual([
      "revert2",
      "propose3",
      "apply3",
      "verify3",
      "revert3",
    ]);
  });

  it("fails with every check's output after three failed rounds, each patch reverted", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-fix-queue");
    const k = key("broken");
    const done = await waitFor(
      api,
      await start(api, wf, {
        file_path: "src/c.ts",
        issue: `x ${patch("BROKEN")} [[json@propose-patch-2={"patch":"BROKEN-2","summary":"s"}]] [[json@propose-patch-3={"patch":"BROKEN-3","summary":"s"}]]`,
        repo_url: target(`/repo/${k}`),
      }),
      undefined,
      30_000,
    );
    expect(done.status).toBe("failed");
    const result = done.nodes.find((x: any) => x.node_id === "result");
    expect(result.error.message).toContain("no patch verified in 3 rounds, and each was reverted");
    expect(result.error.message.match(/error TS1005/g)).toHaveLength(3);
    expect((await targetCalls(`revert-${k}-src/c.ts`)).calls).toHaveLength(3);
    expect(await fileOf(k, "src/c.ts")).toBe("export const answer = 41;\n");
    expect(done.error.message).toBe("failed nodes: result");
  });

  it("reverts a patch whose apply failed, since it may have landed", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-fix-queue");
    const def = (await api.get(`/v1/workflows/${wf}`)).body.definition;
    // The first apply lands, then answers 500 (a service that commits, then fails), and is not retried.
    const apply1 = def.nodes.find((x: any) => x.id === "apply1");
    apply1.config.url = "{{ input.repo_url }}/files/apply?fail_after=500&ms=10";
    apply1.retry = { max_attempts: 1 };
    expect((await api.put(`/v1/workflows/${wf}`, def)).status).toBe(200);
    const k = key("late");
    const issue = `x [[json@propose-patch={"patch":"p-landed","summary":"one"}]] [[json@propose-patch-2={"patch":"p-two","summary":"two"}]]`;
    const done = await waitFor(
      api,
      await start(api, wf, { file_path: "src/e.ts", issue, repo_url: target(`/repo/${k}`) }),
      undefined,
      30_000,
    );
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.nodes.find((x: any) => x.node_id === "apply1")).toMatchObject({
      status: "failed",
      error: { code: "http_500" },
    });
    expect(done.nodes.find((x: any) => x.node_id === "verify1").status).toBe("skipped");
    expect(done.output.result.rounds).toBe(2);
    expect(await fileOf(k, "src/e.ts")).toBe("export const answer = 41;\n// applied: p-two\n");
  });
});

describe("chat-turn", () => {
  it("answers one turn from the history and returns the history with the reply appended", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "chat-turn");
    const k = key("chat");
    const history = [
      { role: "user", content: "What is a spring tide?" },
      { role: "assistant", content: "The larger tide at new and full moon." },
    ];
    const done = await waitFor(api, await start(api, wf, { history, message: `[[key=${k}]] And a neap tide?` }));
    expect(done.status).toBe("succeeded");
    const turn = done.output.turn;
    expect(turn.reply).toBe("echo: And a neap tide?");
    // The tier's model answered (each project of this file sets the tiers to other providers' models).
    expect(turn.model).toBe(env.MODEL_MID.slice(env.MODEL_MID.indexOf(":") + 1));
    expect(turn.history).toEqual([
      ...history,
      { role: "user", content: `[[key=${k}]] And a neap tide?` },
      { role: "assistant", content: "echo: And a neap tide?" },
    ]);
    const [sent] = await modelCalls(k);
    expect(sent?.turns).toEqual(
      [...history, { role: "user", content: `[[key=${k}]] And a neap tide?` }].map((m) => ({
        role: m.role,
        text: m.content,
      })),
    );
    expect(sent?.stream).toBe(true);
    // The next turn starts from this one's output.
    const next = await waitFor(api, await start(api, wf, { history: turn.history, message: `[[key=${k}]] Thanks` }));
    expect(next.output.turn.history).toHaveLength(6);
  });
});

describe("support-chat", () => {
  it("answers a conversation's order questions from the order system, streamed, and says so when an order does not exist", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "support-chat");
    const k = key("support");
    // An order the shop has (ord-1 in this bucket), and a conversation that knows where the shop's orders are.
    const placed = await fetch(target(`/orders/${k}`), {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": `${k}-1` },
      body: JSON.stringify({ sku: "box-10", qty: 100 }),
    });
    expect(placed.status).toBe(201);
    const noUrl = await api.post("/v1/conversations", { workflow_id: wf, user_id: "ada" });
    expect(noUrl.status).toBe(422);
    expect(noUrl.body).toMatchObject({ code: "metadata_invalid", errors: [{ path: "metadata" }] });
    expect(noUrl.body.errors[0].message).toContain("orders_url");
    const cv = await api.post("/v1/conversations", {
      workflow_id: wf,
      user_id: "ada",
      metadata: { orders_url: target(`/orders/${k}`) },
    });
    const WAIT = { prefer: "wait=30" };
    const ask = `Where is my order ord-1? [[key=${k}]] [[agent=order_status:{"order_id":"ord-1"}|Your order: {results}]]`;
    const first = await api.post(`/v1/conversations/${cv.body.id}/messages`, { content: ask }, WAIT);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.reply.status).toBe("ok");
    expect(first.body.reply.content).toContain('"status":"shipped"');
    expect(first.body.reply.content).toContain('"eta":"2026-12-08"');
    const looked = await targetCalls(`order-status-${k}`);
    expect(looked.calls, JSON.stringify(looked.calls)).toHaveLength(1);
    // The reply was streamed as it was written, in the turn's own log.
    const log = (await api.get(`/v1/executions/${first.body.execution_id}/events?limit=1000`)).body.data as any[];
    expect(log.some((e) => e.type === "node.delta" && e.node_id === "support")).toBe(true);

    const missing = `And ord-9? [[key=${k}-2]] [[agent=order_status:{"order_id":"ord-9"}|Lookup said: {results}]]`;
    const second = await api.post(`/v1/conversations/${cv.body.id}/messages`, { content: missing }, WAIT);
    expect(second.body.reply.status).toBe("ok");
    expect(second.body.reply.content).toContain("http_404");
    expect(second.body.reply.content).toContain("no order ord-9");
    // The second turn saw the first as history.
    const [sent] = await modelCalls(`${k}-2`);
    expect(sent?.turns.map((t) => t.role).slice(0, 3)).toEqual(["user", "assistant", "user"]);
    expect(sent?.turns[1]?.text).toContain("Your order:");

    const chat = `What are your opening hours? [[key=${k}-3]] [[agent=We are open 9 to 5.]]`;
    const third = await api.post(`/v1/conversations/${cv.body.id}/messages`, { content: chat }, WAIT);
    expect(third.body.reply.content).toBe("We are open 9 to 5.");
    expect(await llmCalls(`${k}-3`)).toBe(1);
    // Two lookups in all (ord-1, ord-9): the chat turn called no tool.
    expect((await targetCalls(`order-status-${k}`)).calls).toHaveLength(2);
  });
});

describe("code-review", () => {
  const review = (comments: unknown[], summary: string) => `[[json=${JSON.stringify({ comments, summary })}]]`;

  it("reviews each file, decides the verdict by rule, and posts the review once with each comment on its file", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-review");
    const k = key("review");
    const change = {
      id: "42",
      title: `Add a search endpoint [[key=${k}]]`,
      files: [
        {
          path: "src/search.ts",
          patch: `+const q = "SELECT * FROM t WHERE name = '" + input + "'"; ${review([{ line: 3, severity: "major", message: "SQL built from user input" }], "injection risk")}`,
        },
        {
          path: "src/util.ts",
          patch: `+export const x1 = 1; ${review([{ line: 1, severity: "nit", message: "name x1 says nothing" }], "fine")}`,
        },
      ],
    };
    await fetch(target(`/repo/${k}/changes/42`), { method: "PUT", body: JSON.stringify(change) });
    const done = await waitFor(
      api,
      await start(api, wf, { repo_url: target(`/repo/${k}`), change_id: "42" }),
      undefined,
      30_000,
    );
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output.result).toMatchObject({
      verdict: "request_changes",
      counts: { blocker: 0, major: 1, minor: 0, nit: 1 },
      review_id: "rev-1",
    });
    const posted = (await (await fetch(target(`/repo/${k}/changes/42/reviews`))).json()) as { reviews: any[] };
    expect(posted.reviews).toHaveLength(1);
    expect(posted.reviews[0].body).toMatchObject({
      verdict: "request_changes",
      comments: [
        { path: "src/search.ts", line: 3, severity: "major", body: "SQL built from user input" },
        { path: "src/util.ts", line: 1, severity: "nit", body: "name x1 says nothing" },
      ],
    });
    expect(posted.reviews[0].body.body).toContain("Verdict: request_changes");
    const filed = await api.get(`/v1/results?name=review&key=42`);
    expect(filed.body.data).toHaveLength(1);
    // Each file was reviewed by its own call, and the summary by one more.
    expect(await llmCalls(k)).toBe(3);
  });

  it("approves a change whose only comments are minor, and fails clearly on a change that does not exist", async () => {
    const api = client((await createTenant()).token);
    const wf = await instantiate(api, "code-review");
    const k = key("approve");
    const change = {
      id: "7",
      title: `Rename a helper [[key=${k}]]`,
      files: [{ path: "a.ts", patch: `+x ${review([{ line: 2, severity: "minor", message: "a comment" }], "ok")}` }],
    };
    await fetch(target(`/repo/${k}/changes/7`), { method: "PUT", body: JSON.stringify(change) });
    const done = await waitFor(api, await start(api, wf, { repo_url: target(`/repo/${k}`), change_id: "7" }));
    expect(done.output.result.verdict).toBe("approve");
    const missing = await waitFor(api, await start(api, wf, { repo_url: target(`/repo/${k}`), change_id: "404" }));
    expect(missing.status).toBe("failed");
    expect(missing.nodes.find((x: any) => x.node_id === "change").error.code).toBe("http_404");
  });
});

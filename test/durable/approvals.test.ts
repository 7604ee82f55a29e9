import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signLink } from "../../src/lib/approval-link";
import { client, createTenant, mailbox, run, target, waitFor, waitForNode, type Client } from "../support/api";
import { MINUTE, tick } from "../support/cron";

let n = 0;
const unique = (name: string) => `${name}-${Date.now()}-${++n}`;
const person = (name: string) => `${unique(name)}@people.example.com`;
const HOUR = 3_600_000;

const approvalFlow = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "approve",
  timeout_seconds: 86_400,
  ...extra,
  nodes: [
    { id: "ask", kind: "approval", config },
    { id: "after", kind: "transform", needs: ["ask"], config: { expression: "nodes.ask.output" } },
  ],
});

/** The link in the `nth` message to `to` (from 1). */
async function linkFor(to: string, nth = 1): Promise<string> {
  const mail = (await mailbox(to, nth))[nth - 1];
  const url = /http:\/\/edgeflow\.test\/approve\/\S+/.exec(mail?.text ?? "")?.[0];
  if (!url) throw new Error(`no approval link in the mail to ${to}: ${JSON.stringify(mail)}`);
  return url;
}

const open = (url: string, headers: Record<string, string> = {}) => exports.default.fetch(url, { headers });
const post = (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  exports.default.fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form).toString(),
  });
const asJson = { accept: "application/json" };

async function approvalOf(api: Client, executionId: string) {
  const list = await api.get(`/v1/approvals?execution_id=${executionId}`);
  expect(list.status).toBe(200);
  expect(list.body.data).toHaveLength(1);
  return (await api.get(`/v1/approvals/${list.body.data[0].id}`)).body;
}

async function start(api: Client, config: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { executionId } = await run(api, approvalFlow(config, extra));
  await waitForNode(api, executionId, "ask", "waiting");
  return { executionId, approval: await approvalOf(api, executionId) };
}

/** What kind of notice each message to `to` was; the tick that sends awaits its sends, so a short wait suffices. */
const notices = async (to: string, count: number) =>
  (await mailbox(to, count, 1000)).map((m) => m.headers["x-edgeflow-notice"]);
async function hooks(k: string) {
  return ((await (await fetch(target(`/_hooks/${k}`))).json()) as { deliveries: any[] }).deliveries;
}
const succeededEvents = async (api: Client, id: string) =>
  ((await api.get(`/v1/executions/${id}/events?after=0&limit=1000`)).body.data as any[]).filter(
    (e) => e.node_id === "ask" && (e.type === "node.succeeded" || e.type === "node.failed"),
  );

describe("approval node", () => {
  it("reminds, escalates and applies the timeout on a virtual clock, as the emails and webhooks show", async () => {
    const api = client((await createTenant()).token);
    const [ann, bob, boss] = [person("ann"), person("bob"), person("boss")];
    const k = unique("approvals");
    const secret = `whsec_${btoa("approval-hook-secret-0123456789ab")}`;
    await fetch(target(`/_hooks/${k}`), { method: "POST", body: JSON.stringify({ secret }) });
    expect((await api.put("/v1/secrets/APPROVAL_HOOK", { value: secret })).status).toBeLessThan(300);
    const { executionId, approval } = await start(api, {
      title: "Publish the spring campaign",
      message: "Draft: {{ 'Spring sale' }}",
      approvers: [ann, bob],
      channels: { email: true, webhook: { url: target(`/hooks/${k}`), secret: "{{ secrets.APPROVAL_HOOK }}" } },
      remind_every: "1h",
      escalate: [{ after: "3h", to: [boss] }],
      timeout: { after: "5h", action: "reject" },
    });
    expect(approval).toMatchObject({ status: "pending", approvers: [ann, bob], quorum: 1 });
    const view = (await api.get(`/v1/executions/${executionId}`)).body;
    expect(view.nodes[0].waiting_for.event).toBe("approval:ask");
    expect(view.waiting_for_approval).toBe(true);

    const t0 = Date.parse(approval.created_at);
    const after = async (ms: number) => tick(t0 + ms + 1000);
    await after(HOUR / 2);
    expect(await notices(ann, 1)).toEqual(["requested"]);
    await after(HOUR);
    await after(2 * HOUR);
    await after(3 * HOUR);
    await after(4 * HOUR);
    await after(5 * HOUR);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].output).toMatchObject({ decision: "rejected", approved: false, timed_out: true });
    expect(done.waiting_for_approval).toBe(false);

    const asks = ["requested", "reminder", "reminder", "reminder", "reminder", "timed_out"];
    expect(await notices(ann, 6)).toEqual(asks);
    expect(await notices(bob, 6)).toEqual(asks);
    expect(await notices(boss, 3)).toEqual(["escalated", "reminder", "timed_out"]);
    const delivered = await hooks(k);
    expect(delivered.every((d) => d.verified)).toBe(true);
    expect(delivered.map((d) => d.body.type)).toEqual([
      "approval.requested",
      "approval.reminder",
      "approval.reminder",
      "approval.escalated",
      "approval.reminder",
      "approval.reminder",
      "approval.timed_out",
    ]);
    // The webhook carries a link per pending approver; the escalation's names the new one too.
    expect(Object.keys(delivered[3].body.links).sort()).toEqual([ann, bob, boss].sort());
    const closed = await approvalOf(api, executionId);
    expect(closed).toMatchObject({ status: "timed_out", reminders_sent: 4, escalations: 1 });
    expect(closed.approvers).toEqual([ann, bob, boss]);

    // After the timeout every link is dead, and a decision changes nothing.
    const link = await linkFor(ann, 5);
    expect((await open(link, asJson)).status).toBe(410);
    const late = await post(link, { decision: "approve" }, asJson);
    expect(late.status).toBe(410);
    expect(((await late.json()) as any).code).toBe("approval_closed");
    expect(await succeededEvents(api, executionId)).toHaveLength(1);
  });

  it("a quorum of 2 of 3 completes exactly once under 3 concurrent clicks", async () => {
    const api = client((await createTenant()).token);
    const people = [person("a"), person("b"), person("c")];
    const { executionId } = await start(api, { title: "Refund 40 EUR", approvers: people, quorum: 2 });
    const links = await Promise.all(people.map((p) => linkFor(p)));
    const answers = await Promise.all(links.map((l) => post(l, { decision: "approve" })));
    // The third click may come after the quorum closed the approval: then it is refused, and changes nothing.
    const codes = answers.map((r) => r.status).sort();
    expect(codes.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(codes.every((s) => s === 200 || s === 410)).toBe(true);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("succeeded");
    expect(done.nodes[0].output).toMatchObject({ decision: "approved", approved: true, timed_out: false });
    expect(await succeededEvents(api, executionId)).toHaveLength(1);
    const a = await approvalOf(api, executionId);
    expect(a.status).toBe("approved");
    expect(a.decisions.length).toBe(codes.filter((s) => s === 200).length);
    expect(a.decisions[0]).toMatchObject({ via: "link", decision: "approve" });

    // Through the API, the answers say which one decision settled it.
    const second = await start(api, { title: "Refund 80 EUR", approvers: ["x", "y", "z"], quorum: 2 });
    const votes = await Promise.all(
      ["x", "y", "z"].map((as) =>
        api.post(`/v1/approvals/${second.approval.id}/decisions`, { as, decision: "approve" }),
      ),
    );
    expect(votes.filter((v) => v.status === 201 && v.body.settled)).toHaveLength(1);
    expect(votes.every((v) => v.status === 201 || v.body.code === "approval_closed")).toBe(true);
    await waitFor(api, second.executionId);
    expect(await succeededEvents(api, second.executionId)).toHaveLength(1);
  });

  it("a second click returns the same decision with no second transition; a changed mind is refused", async () => {
    const api = client((await createTenant()).token);
    const ann = person("ann");
    const { executionId } = await start(api, { title: "Ship it", approvers: [ann] });
    const link = await linkFor(ann);
    const first = await post(link, { decision: "approve", comment: "looks good" }, { "user-agent": "Mail.app/1" });
    expect(first.status).toBe(200);
    expect(await first.text()).toContain("You approved this on");
    await waitFor(api, executionId);
    const again = await post(link, { decision: "approve" });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain("You approved this on");
    const changed = await post(link, { decision: "reject" }, asJson);
    expect(changed.status).toBe(410);
    expect(((await changed.json()) as any).code).toBe("link_used");
    expect((await open(link)).status).toBe(200);
    expect(await succeededEvents(api, executionId)).toHaveLength(1);
    const a = await approvalOf(api, executionId);
    expect(a.decisions).toHaveLength(1);
    // Who decided, when and from where.
    expect(a.decisions[0]).toMatchObject({
      approver: ann,
      comment: "looks good",
      via: "link",
      user_agent: "Mail.app/1",
    });
  });

  it("a result the cron delivers again (its delivery was not recorded) is received once: no stale answer is left buffered", async () => {
    const api = client((await createTenant()).token);
    const ann = person("ann");
    // The run goes on waiting after the approval, so an event delivered twice would be kept in its inbox.
    const flow = approvalFlow({ title: "Ship it", approvers: [ann] });
    flow.nodes.push({ id: "hold", kind: "wait_for_event", config: { event: "go" } } as never);
    const { executionId } = await run(api, flow);
    await waitForNode(api, executionId, "ask", "waiting");
    const approval = await approvalOf(api, executionId);
    expect((await post(await linkFor(ann), { decision: "approve" })).status).toBe(200);
    await waitForNode(api, executionId, "ask", "succeeded");
    // The result reached the execution, but recording that in D1 failed: the cron's sweep delivers it again.
    await env.DB.prepare("UPDATE approvals SET delivered_at = NULL WHERE id = ?").bind(approval.id).run();
    await tick(Date.now() + MINUTE);
    const delivered = await env.DB.prepare("SELECT delivered_at FROM approvals WHERE id = ?").bind(approval.id).first();
    expect(delivered?.delivered_at).not.toBeNull();
    const events = (await api.get(`/v1/executions/${executionId}/events?after=0&limit=1000`)).body.data as any[];
    expect(events.filter((e) => e.type === "event.received")).toHaveLength(1);
    expect((await api.get(`/v1/executions/${executionId}`)).body.status).toBe("running");
  });

  it("refuses forged, expired, cross-node and other people's links with 403/410 and no transition", async () => {
    const api = client((await createTenant()).token);
    const ann = person("ann");
    const { executionId, approval } = await start(api, { title: "Deploy", approvers: [ann] });
    const link = await linkFor(ann);
    const token = link.split("/approve/")[1] as string;
    const forged = `${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`;
    const claims = {
      approval_id: approval.id,
      execution_id: executionId,
      node_id: "ask",
      approver: ann,
      expires_at: Date.now() + HOUR,
    };
    const cases: [string, number, string][] = [
      [forged, 403, "link_invalid"],
      [await signLink(env, { ...claims, node_id: "after" }), 403, "link_invalid"],
      [await signLink(env, { ...claims, execution_id: "ex_other" }), 403, "link_invalid"],
      [await signLink(env, { ...claims, approver: "mallory@people.example.com" }), 403, "link_invalid"],
      [await signLink(env, { ...claims, expires_at: Date.now() - 1000 }), 410, "link_expired"],
    ];
    for (const [t, status, code] of cases) {
      const got = await post(`http://edgeflow.test/approve/${t}`, { decision: "approve" }, asJson);
      expect([got.status, ((await got.json()) as any).code]).toEqual([status, code]);
      // A person sees a page saying so.
      const seen = await open(`http://edgeflow.test/approve/${t}`);
      expect(seen.status).toBe(status);
      expect(seen.headers.get("content-type")).toContain("text/html");
    }
    expect((await approvalOf(api, executionId)).decisions).toEqual([]);
    expect((await api.get(`/v1/executions/${executionId}`)).body.status).toBe("running");
  });

  it("shows a confirm page without script, checks the form, and passes the decision's data on", async () => {
    const api = client((await createTenant()).token);
    const ann = person("ann");
    const { executionId } = await start(api, {
      title: "Approve the <b>refund</b>",
      approvers: [ann],
      form: {
        type: "object",
        properties: {
          reason: { type: "string", minLength: 3 },
          amount: { type: "number", maximum: 100 },
          notify: { type: "boolean" },
        },
        required: ["reason"],
      },
    });
    const link = await linkFor(ann);
    const page = await open(link);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("Approve the &lt;b&gt;refund&lt;/b&gt;");
    expect(html).toContain('name="data.reason"');
    // Viewing decides nothing (mail scanners open links).
    expect((await approvalOf(api, executionId)).decisions).toEqual([]);

    const bad = await post(link, { decision: "approve", "data.reason": "ok", "data.amount": "250" });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain("data.amount");
    const good = await post(link, { decision: "approve", "data.reason": "duplicate charge", "data.amount": "40" });
    expect(good.status).toBe(200);
    const done = await waitFor(api, executionId);
    expect(done.nodes[0].output.data).toEqual({ reason: "duplicate charge", amount: 40, notify: false });
    expect(done.nodes[1].output.decision).toBe("approved");
  });

  it("has an inbox, decides through the API as an approver, and keeps tenants apart", async () => {
    const api = client((await createTenant()).token);
    const other = client((await createTenant()).token);
    const lead = unique("lead");
    const { executionId, approval } = await start(api, { title: "Raise the limit", approvers: [lead, "ops-oncall"] });
    const inbox = await api.get(`/v1/approvals?assignee=${lead}&status=pending`);
    expect(inbox.body.data.map((a: any) => a.id)).toEqual([approval.id]);
    expect((await api.get(`/v1/approvals?assignee=nobody&status=pending`)).body.data).toEqual([]);
    expect((await other.get(`/v1/approvals/${approval.id}`)).status).toBe(404);
    expect((await other.post(`/v1/approvals/${approval.id}/decisions`, { as: lead, decision: "approve" })).status).toBe(
      404,
    );

    const stranger = await api.post(`/v1/approvals/${approval.id}/decisions`, { as: "someone", decision: "approve" });
    expect([stranger.status, stranger.body.code]).toEqual([403, "not_an_approver"]);
    const bad = await api.post(`/v1/approvals/${approval.id}/decisions`, { as: lead, decision: "maybe" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe("decision");

    const no = await api.post(`/v1/approvals/${approval.id}/decisions`, {
      as: lead,
      decision: "reject",
      comment: "too high",
    });
    expect(no.status).toBe(201);
    expect(no.body).toMatchObject({
      settled: false,
      replayed: false,
      decision: { approver: lead, decision: "reject" },
    });
    expect(no.body.decision.via).toMatch(/^api:/);
    const twice = await api.post(`/v1/approvals/${approval.id}/decisions`, { as: lead, decision: "reject" });
    expect(twice.status).toBe(200);
    expect(twice.body.replayed).toBe(true);
    const flip = await api.post(`/v1/approvals/${approval.id}/decisions`, { as: lead, decision: "approve" });
    expect([flip.status, flip.body.code]).toEqual([409, "already_decided"]);
    // One of two rejecting leaves quorum 1 reachable; the second settles it as rejected.
    const last = await api.post(`/v1/approvals/${approval.id}/decisions`, { as: "ops-oncall", decision: "reject" });
    expect(last.body).toMatchObject({ settled: true, approval: { status: "rejected" } });
    const done = await waitFor(api, executionId);
    expect(done.nodes[0].output).toMatchObject({ decision: "rejected", approved: false });
    expect((await api.get(`/v1/approvals?assignee=${lead}&status=rejected`)).body.data).toHaveLength(1);
  });

  it("a cancelled run closes its approval at once: the link answers 410, and no reminder goes out", async () => {
    const api = client((await createTenant()).token);
    const ann = person("ann");
    const { executionId, approval } = await start(api, { title: "Wire money", approvers: [ann], remind_every: "1h" });
    const link = await linkFor(ann);
    expect((await api.post(`/v1/executions/${executionId}/cancel`)).status).toBe(200);
    await waitFor(api, executionId);
    // The link closes with the run, before any tick.
    expect((await open(link, asJson)).status).toBe(410);
    await tick(Date.parse(approval.created_at) + HOUR + 1000);
    expect((await approvalOf(api, executionId)).status).toBe("cancelled");
    // No reminder went out for a run that had ended.
    expect(await notices(ann, 2)).toEqual(["requested"]);
    const late = await post(link, { decision: "approve" }, asJson);
    expect([late.status, ((await late.json()) as any).code]).toEqual([410, "approval_closed"]);
  });

  it("fails the node on a timeout whose action is fail", async () => {
    const api = client((await createTenant()).token);
    const { executionId, approval } = await start(api, {
      title: "Approve within the hour",
      approvers: ["release-manager"],
      timeout: { after: "1h", action: "fail" },
    });
    await tick(Date.parse(approval.created_at) + HOUR + 1000);
    const done = await waitFor(api, executionId);
    expect(done.status).toBe("failed");
    expect(done.nodes[0].error).toMatchObject({ code: "approval_timeout" });
  });

  it("asks someone to acknowledge a monitor's problem through an approval, once per problem, and stops asking when it is over", async () => {
    const api = client((await createTenant()).token);
    const oncall = person("oncall");
    const k = unique("ack");
    const ack = await api.post("/v1/workflows", {
      name: "acknowledge",
      timeout_seconds: 86_400,
      nodes: [
        {
          id: "ack",
          kind: "approval",
          config: {
            title: "Acknowledge: {{ input.monitor.name }} ({{ input.alert.type }})",
            message: "{{ input.alert.error }}",
            approvers: [oncall],
            remind_every: "1h",
          },
        },
      ],
    });
    const noAsk = await api.post("/v1/workflows", {
      name: "no-ask",
      nodes: [{ id: "a", kind: "transform", config: { expression: "1" } }],
    });
    const monitorBody = (workflow_id: string) => ({
      name: `site ${k}`,
      check: { kind: "http", url: target(`/status/404/${k}`), timeout_ms: 2000 },
      interval_seconds: 60,
      failure_threshold: 1,
      recovery_threshold: 1,
      alert: { email: [person("watcher")], acknowledge: { workflow_id } },
    });
    const refused = await api.post("/v1/monitors", monitorBody(noAsk.body.id));
    expect([refused.status, refused.body.code]).toEqual([422, "acknowledge_invalid"]);
    expect(refused.body.errors[0].path).toBe("alert.acknowledge.workflow_id");
    expect((await api.post("/v1/monitors", monitorBody("wf_nope"))).body.code).toBe("acknowledge_invalid");

    const m = (await api.post("/v1/monitors", monitorBody(ack.body.id))).body;
    let t = Date.parse(m.next_check_at);
    await tick(t);
    const down = (await api.get(`/v1/monitors/${m.id}`)).body;
    expect(down.status).toBe("down");
    const first = down.acknowledgement_execution_id as string;
    expect(first).toMatch(/^ex_/);
    await waitForNode(api, first, "ack", "waiting");
    const [asked] = await mailbox(oncall);
    expect(asked?.subject).toBe(`Approval needed: Acknowledge: site ${k} (monitor.down)`);
    // Still down a minute later: nobody is asked twice for one problem.
    await tick((t += 60_000));
    expect((await api.get(`/v1/monitors/${m.id}`)).body.acknowledgement_execution_id).toBe(first);
    expect((await post(await linkFor(oncall), { decision: "approve", comment: "on it" })).status).toBe(200);
    expect((await waitFor(api, first)).nodes[0].output).toMatchObject({ approved: true });

    // Back up, then down again: a new problem, a new run; up again before anyone answers cancels it and its link.
    await api.raw("PATCH", `/v1/monitors/${m.id}`, {
      check: { kind: "http", url: target(`/status/200/${k}`), timeout_ms: 2000 },
    });
    await tick((t += 60_000));
    expect((await api.get(`/v1/monitors/${m.id}`)).body).toMatchObject({
      status: "up",
      acknowledgement_execution_id: null,
    });
    await api.raw("PATCH", `/v1/monitors/${m.id}`, {
      check: { kind: "http", url: target(`/status/404/${k}`), timeout_ms: 2000 },
    });
    await tick((t += 60_000));
    const second = (await api.get(`/v1/monitors/${m.id}`)).body.acknowledgement_execution_id as string;
    expect(second).toMatch(/^ex_/);
    expect(second).not.toBe(first);
    await waitForNode(api, second, "ack", "waiting");
    const link = await linkFor(oncall, 2);
    await api.raw("PATCH", `/v1/monitors/${m.id}`, {
      check: { kind: "http", url: target(`/status/200/${k}`), timeout_ms: 2000 },
    });
    await tick((t += 60_000));
    expect((await waitFor(api, second)).status).toBe("cancelled");
    expect((await post(link, { decision: "approve" }, asJson)).status).toBe(410);
  });

  it("refuses at save what can never work: a quorum above the approvers, a bad address, a timeout after the run's", async () => {
    const api = client((await createTenant()).token);
    const save = (config: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      api.post("/v1/workflows", approvalFlow(config, extra));
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [{ title: "t", approvers: ["a@x.example"], quorum: 2 }, {}, "nodes[0].config.quorum"],
      [{ title: "t", approvers: ["not an address@"] }, {}, "nodes[0].config.approvers"],
      [
        { title: "t", approvers: ["a@x.example"], timeout: { after: "2d", action: "approve" } },
        {},
        "nodes[0].config.timeout.after",
      ],
      [{ title: "t", approvers: ["a@x.example"], remind_every: "soon" }, {}, "nodes[0].config.remind_every"],
    ];
    for (const [config, extra, path] of cases) {
      const res = await save(config, extra);
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: any) => e.path).join(" ")).toContain(path);
    }
  });
});

import { describe, expect, it } from "vitest";
import { client, createTenant, mailbox, run, target, waitFor } from "../support/api";
import { MINUTE, tick } from "../support/cron";

const node = (url: string, extra: Record<string, unknown> = {}) => ({
  id: "watch",
  kind: "create_monitor",
  config: {
    name: "watch the post",
    url,
    interval_seconds: 3600,
    failure_threshold: 1,
    webhook_url: target("/hooks/create-monitor"),
    expect: { json: "data.children[0].data.removed_by_category = null" },
    expires_at: "{{ input.until }}",
    ...extra,
  },
});

describe("create_monitor", () => {
  it("registers a content monitor with expect and expires_at, and refuses a second one on the same check", async () => {
    const api = client((await createTenant()).token);
    const post = `cm-${crypto.randomUUID()}`;
    const url = target(`/posts/${post}.json`);
    const until = new Date(Date.now() + 7 * 24 * 60 * MINUTE).toISOString();
    const first = await run(api, { name: "monitor a post", nodes: [node(url)] }, { until });
    const done = await waitFor(api, first.executionId);
    expect(done.status).toBe("succeeded");
    const id = done.nodes[0].output.monitor_id as string;
    const monitor = (await api.get(`/v1/monitors/${id}`)).body;
    expect(monitor.check.expect).toEqual({ json: "data.children[0].data.removed_by_category = null" });
    expect(monitor.expires_at).toBe(until);

    // The moderator removes the post; the page still answers 200 and the monitor goes down.
    await tick(Date.now());
    await fetch(target(`/posts/${post}/remove`), { method: "POST" });
    await tick(Date.now() + 61 * MINUTE);
    expect((await api.get(`/v1/monitors/${id}`)).body.status).toBe("down");

    const second = await run(api, { name: "again", nodes: [node(url)] }, { until });
    const refused = await waitFor(api, second.executionId);
    expect(refused.nodes[0]).toMatchObject({ status: "failed", error: { code: "monitor_exists" } });
    expect(refused.nodes[0].error.message).toContain(id);
    const allowed = await run(api, { name: "on purpose", nodes: [node(url, { allow_duplicate: true })] }, { until });
    expect((await waitFor(api, allowed.executionId)).status).toBe("succeeded");
  });

  it("alerts the addresses a template gives by email, with no webhook at all", async () => {
    const api = client((await createTenant()).token);
    const post = `cm-mail-${crypto.randomUUID()}`;
    const owner = `owner-${post}@example.com`;
    const watch = node(target(`/posts/${post}.json`), {
      webhook_url: undefined,
      alert_email: "{{ input.owners }}",
      expires_at: undefined,
    });
    const started = await run(api, { name: "watch by email", nodes: [watch] }, { owners: [owner] });
    const done = await waitFor(api, started.executionId);
    expect(done.status).toBe("succeeded");
    const id = done.nodes[0].output.monitor_id as string;
    expect((await api.get(`/v1/monitors/${id}`)).body.alert).toEqual({ email: [owner], cooldown_seconds: 3600 });
    await tick(Date.now());
    await fetch(target(`/posts/${post}/remove`), { method: "POST" });
    await tick(Date.now() + 61 * MINUTE);
    const [mail] = await mailbox(owner);
    expect(mail?.subject).toBe("[Edgeflow] watch the post is down");

    const bad = await run(
      api,
      { name: "bad", nodes: [{ ...watch, config: { ...watch.config, url: target(`/posts/x-${post}.json`) } }] },
      {
        owners: ["someone"],
      },
    );
    const failed = await waitFor(api, bad.executionId);
    expect(failed.nodes[0]).toMatchObject({ status: "failed", error: { code: "invalid_config" } });
    expect(failed.nodes[0].error.message).toContain("config.alert_email[0]: must be an email address");
  });
});

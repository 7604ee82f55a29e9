import { describe, expect, it } from "vitest";
import { client, createTenant, run, target, waitFor } from "../support/api";
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
});

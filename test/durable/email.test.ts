import { describe, expect, it } from "vitest";
import { client, createTenant, mailbox, run, waitFor } from "../support/api";

let n = 0;
const inbox = (name: string) => `${name}-${Date.now()}-${++n}@people.example.com`;

const emailNode = (config: Record<string, unknown>) => ({
  name: "tell",
  nodes: [{ id: "tell", kind: "email", retry: { max_attempts: 1 }, config }],
});

describe("email node", () => {
  it("sends one message per recipient through the send_email binding, as miniflare received it", async () => {
    const api = client((await createTenant()).token);
    const [ann, bob] = [inbox("ann"), inbox("bob")];
    const { executionId } = await run(
      api,
      emailNode({
        to: "{{ input.people }}",
        subject: "Déploiement {{ input.release }} prêt",
        text: "La version {{ input.release }} est prête.\nReply to approve.",
        reply_to: "release-desk@example.com",
      }),
      { people: [ann, bob, ann], release: "v2.4" },
    );
    const done = await waitFor(api, executionId);
    expect(done.nodes[0].error ?? null).toBeNull();
    expect(done.status).toBe("succeeded");
    const sent = done.nodes[0].output.sent as { to: string; message_id: string }[];
    // The duplicate address gets one message.
    expect(sent.map((s) => s.to)).toEqual([ann, bob]);
    for (const [addr, i] of [
      [ann, 0],
      [bob, 1],
    ] as const) {
      const [mail, ...more] = await mailbox(addr);
      expect(more).toHaveLength(0);
      expect(mail).toMatchObject({
        from: "edgeflow@alerts.example.com",
        to: addr,
        subject: "Déploiement v2.4 prêt",
        text: "La version v2.4 est prête.\nReply to approve.",
      });
      expect(mail!.headers["reply-to"]).toContain("release-desk@example.com");
      expect(sent[i]!.message_id.replace(/^<|>$/g, "")).toBe(mail!.id);
    }
  });

  it("refuses an address that is not an address when the workflow is saved", async () => {
    const api = client((await createTenant()).token);
    const res = await api.post(
      "/v1/workflows",
      emailNode({ to: ["ok@example.com", "not an address"], subject: "s", text: "t" }),
    );
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_definition");
    expect(res.body.errors).toEqual([
      { path: "nodes[0].config.to[1]", message: "must be an email address or a {{ template }}" },
    ]);
  });

  it("fails the node, sending nothing, when a template renders something that is not an address", async () => {
    const api = client((await createTenant()).token);
    const good = inbox("good");
    const { executionId } = await run(
      api,
      emailNode({ to: ["{{ input.a }}", "{{ input.b }}"], subject: "s", text: "t" }),
      {
        a: good,
        b: "nobody",
      },
    );
    const done = await waitFor(api, executionId);
    expect(done.nodes[0]).toMatchObject({ status: "failed", error: { code: "invalid_config" } });
    expect(done.nodes[0].error.message).toContain("config.to[1]: must be an email address");
    expect(await mailbox(good, 1, 300)).toEqual([]);
  });
});

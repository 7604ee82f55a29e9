// The cron's model check: each configured tier answers a tiny prompt every MODEL_CHECK_MINUTES; /health reports the
// last result without calling a model; a tier that goes down or comes back raises a signed model.down / model.up.
import { env } from "cloudflare:workers";
import { createScheduledController } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/worker";
import { client, target } from "../support/api";
import { MINUTE } from "../support/cron";

const k = `model-alerts-${Date.now()}`;
const secret = `whsec_${btoa("model-alert-secret-of-32-bytes!!")}`;

/** A tick through the real scheduled() with the model check on (the shared pool keeps it off) and `over` applied. */
async function tick(at: number, over: Record<string, string> = {}) {
  const checked = {
    ...env,
    MODEL_CHECK_MINUTES: "5",
    MODEL_ALERT_WEBHOOK_URL: target(`/hooks/${k}`),
    MODEL_ALERT_WEBHOOK_SECRET: secret,
    ...over,
  };
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), checked as Env);
}

const health = () => client(null).get("/health");
const hooks = async () =>
  ((await (await fetch(target(`/_hooks/${k}`))).json()) as { deliveries: { verified: boolean; body: any }[] })
    .deliveries;
const probes = async (server: string) =>
  ((await (await fetch(`${server}/_calls/default`)).json()) as { calls: { body: any }[] }).calls.filter((c) =>
    JSON.stringify(c.body).includes("Reply with the single word OK."),
  ).length;

describe("model checks", () => {
  it("check each tier on schedule, report it in /health, and alert once when a tier goes down and once when it is back", async () => {
    await fetch(target(`/_hooks/${k}`), { method: "POST", body: JSON.stringify({ secret }) });
    const t0 = Math.ceil(Date.now() / MINUTE) * MINUTE;
    const before = await probes(env.OPENAI_URL);

    await tick(t0);
    let res = await health();
    expect(res.status).toBe(200);
    expect(res.body.checks.models.tiers.map((t: any) => [t.tier, t.checked, t.ok])).toEqual([
      ["strong", true, true],
      ["mid", true, true],
      ["weak", true, true],
    ]);
    // mid (OpenAI) and weak (OpenRouter) share the OpenAI-style server: one probe each.
    expect((await probes(env.OPENAI_URL)) - before).toBe(2);
    // A first check that passes is no news.
    expect(await hooks()).toEqual([]);

    // Not due again before MODEL_CHECK_MINUTES: no model is called.
    await tick(t0 + MINUTE);
    expect((await probes(env.OPENAI_URL)) - before).toBe(2);

    // The mid tier's provider stops answering (a wrong base URL here): down, named in /health, alerted.
    await tick(t0 + 5 * MINUTE, { OPENAI_BASE_URL: `${env.OPENAI_URL}/nowhere` });
    res = await health();
    expect(res.status).toBe(503);
    expect(res.body.code).toBe("model_down");
    expect(res.body.detail).toBe(
      "models: mid (openai:gpt-5-mini) failed its last check: openai:gpt-5-mini HTTP 404: no route POST /nowhere/chat/completions",
    );
    const mid = res.body.checks.models.tiers.find((t: any) => t.tier === "mid");
    expect(mid).toMatchObject({ ok: false, checked_at: new Date(t0 + 5 * MINUTE).toISOString() });
    let sent = await hooks();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      verified: true,
      body: { type: "model.down", tier: "mid", provider: "openai", model: "gpt-5-mini", down_since: null },
    });

    // Still down five minutes later: no second alert.
    await tick(t0 + 10 * MINUTE, { OPENAI_BASE_URL: `${env.OPENAI_URL}/nowhere` });
    expect(await hooks()).toHaveLength(1);

    await tick(t0 + 15 * MINUTE);
    expect((await health()).status).toBe(200);
    sent = await hooks();
    expect(sent.map((d) => [d.verified, d.body.type, d.body.tier])).toEqual([
      [true, "model.down", "mid"],
      [true, "model.up", "mid"],
    ]);
    expect(sent[1]!.body.down_since).toBe(new Date(t0 + 5 * MINUTE).toISOString());
  });
});

// The README's model set-up from a fresh copy of the repository: current models in .dev.vars (pointed at local
// servers that keep OpenAI's and Anthropic's contracts), `npm start`, the smoke test's model step, and an LLM
// template run over real sockets.
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmServer } from "../support/llm-server";
import { callLocal, copyOfRepo, startLocal, type LocalServer } from "../support/local-server";

const run = promisify(execFile);
let local: LocalServer;
let repo: string;
let openai: Awaited<ReturnType<typeof startLlmServer>>;
let anthropic: Awaited<ReturnType<typeof startLlmServer>>;

beforeAll(async () => {
  [openai, anthropic] = await Promise.all([startLlmServer("openai"), startLlmServer("anthropic")]);
  repo = copyOfRepo("edgeflow-models-");
  // As the README's LLM section writes it, with each provider's base URL on this machine.
  writeFileSync(
    join(repo, ".dev.vars"),
    [
      'MODEL_STRONG="anthropic:claude-sonnet-4-5"',
      'MODEL_MID="openai:gpt-5-mini"',
      'MODEL_WEAK="openrouter:openai/gpt-4o-mini"',
      'OPENAI_API_KEY="sk-local"',
      'OPENROUTER_API_KEY="sk-or-local"',
      'ANTHROPIC_API_KEY="sk-ant-local"',
      `OPENAI_BASE_URL="${openai.url}/v1"`,
      `OPENROUTER_BASE_URL="${openai.url}/v1"`,
      `ANTHROPIC_BASE_URL="${anthropic.url}"`,
      "",
    ].join("\n"),
  );
  local = await startLocal(120_000, repo);
});

afterAll(async () => {
  await Promise.all([local?.stop(), openai?.close(), anthropic?.close()]);
  rmSync(repo, { recursive: true, force: true });
});

describe("npm start with current models", () => {
  it("prints what each tier resolves to", () => {
    expect(local.output()).toContain("strong anthropic:claude-sonnet-4-5");
    expect(local.output()).toContain("mid    openai:gpt-5-mini");
  });

  it("passes the smoke test's model step, and fails it naming the tier when a key is refused", async () => {
    const ok = await run("npm", ["run", "-s", "smoke", "--", local.base, local.key], { timeout: 90_000 });
    expect(ok.stdout).toContain(
      "models: strong anthropic:claude-sonnet-4-5 ok, mid openai:gpt-5-mini ok, weak openrouter:openai/gpt-4o-mini ok;",
    );
    // The OpenAI-style server refuses the next two calls (the mid and weak tiers' probes) as a revoked key.
    await fetch(`${openai.url}/_fail-next`, { method: "POST", body: JSON.stringify({ count: 2, status: 401 }) });
    const bad = await run("npm", ["run", "-s", "smoke", "--", local.base, local.key], { timeout: 90_000 }).catch(
      (e) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      "smoke FAILED at models: mid (openai:gpt-5-mini): openai:gpt-5-mini HTTP 401: the server was told to fail; weak (openrouter:openai/gpt-4o-mini): openrouter:openai/gpt-4o-mini HTTP 401",
    );
  }, 120_000);

  it("runs the chat-turn template on the mid tier (a reasoning model) over real sockets", async () => {
    const wf = await callLocal(local, "POST", "/v1/templates/chat-turn/instantiate", {});
    expect(wf.status).toBe(201);
    const started = await callLocal(local, "POST", `/v1/workflows/${wf.body.id}/executions`, {
      input: { history: [], message: "What is a neap tide?" },
    });
    expect(started.status).toBe(201);
    let view: any;
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      view = (await callLocal(local, "GET", `/v1/executions/${started.body.id}`)).body;
      if (["succeeded", "failed"].includes(view.status)) break;
    }
    expect(view.status).toBe("succeeded");
    const reply = view.nodes.find((n: any) => n.kind === "llm");
    expect(reply.output).toMatchObject({ provider: "openai", model: "gpt-5-mini", text: "echo: What is a neap tide?" });
  }, 60_000);

  it("runs sdlc-parallel on these tiers and its artifacts.zip, downloaded over a socket, passes unzip -t", async () => {
    const wf = await callLocal(local, "POST", "/v1/templates/sdlc-parallel/instantiate", {});
    const files = `[[json={"files":[{"path":"README.md","content":"# todo"},{"path":"src/app.mjs","content":"export {};"}]}]]`;
    const project = `todo app ${files} [[json@review={"score":0.9,"feedback":"fine"}]]`;
    const started = await callLocal(local, "POST", `/v1/workflows/${wf.body.id}/executions`, { input: { project } });
    expect(started.status).toBe(201);
    let view: any;
    for (const end = Date.now() + 60_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      view = (await callLocal(local, "GET", `/v1/executions/${started.body.id}`)).body;
      if (["succeeded", "failed"].includes(view.status)) break;
    }
    expect(view.status, JSON.stringify(view.error)).toBe("succeeded");
    const zip = await fetch(`${local.base}/v1/executions/${started.body.id}/artifacts.zip`, {
      headers: { authorization: `Bearer ${local.key}` },
    });
    expect(zip.status).toBe(200);
    const path = join(repo, "artifacts.zip");
    writeFileSync(path, Buffer.from(await zip.arrayBuffer()));
    const tested = await run("unzip", ["-t", path]);
    expect(tested.stdout).toContain("No errors detected in compressed data");
    expect(tested.stdout).toContain("deliver/backend/src/app.mjs");
    expect(tested.stdout).toContain("deliver/tests/README.md");
  }, 90_000);
});

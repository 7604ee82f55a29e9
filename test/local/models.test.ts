// The README's model set-up from a fresh copy of the repository: current models in .dev.vars (pointed at local
// servers that keep OpenAI's and Anthropic's contracts), `npm start`, the smoke test's model step, and an LLM
// template run over real sockets.
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";
import { axeViolations, launchChromium, screenshot } from "../support/browser";
import { startLlmServer } from "../support/llm-server";
import { callLocal, copyOfRepo, startLocal, type LocalServer } from "../support/local-server";

const run = promisify(execFile);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
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

  it("keeps a conversation over real sockets: Prefer: wait, the AI SDK's transport with a resume, and edgeflow chat", async () => {
    const wf = (await callLocal(local, "POST", "/v1/templates/chat-turn/instantiate", {})).body.id as string;
    const cv = (await callLocal(local, "POST", "/v1/conversations", { workflow_id: wf, user_id: "ada" })).body.id;
    const waited = await fetch(`${local.base}/v1/conversations/${cv}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${local.key}`, "content-type": "application/json", prefer: "wait=30" },
      body: JSON.stringify({ content: "What is a spring tide?" }),
    });
    expect(waited.status).toBe(200);
    expect(waited.headers.get("preference-applied")).toBe("wait=30");
    expect(((await waited.json()) as any).reply).toMatchObject({ seq: 2, content: "echo: What is a spring tide?" });

    // useChat's transport over a real socket, dropped after the first text and resumed.
    const transport = new DefaultChatTransport<UIMessage>({
      api: `${local.base}/v1/chat`,
      headers: { authorization: `Bearer ${local.key}` },
    });
    const drop = new AbortController();
    const first = await transport.sendMessages({
      chatId: cv,
      messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "[[needs_tokens=400]] And a neap tide?" }] }],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: drop.signal,
    });
    const reader = first.getReader();
    for (let c = await reader.read(); c.value?.type !== "text-delta"; c = await reader.read());
    drop.abort();
    const resumed = await transport.reconnectToStream({ chatId: cv });
    let message: UIMessage | undefined;
    for await (const m of readUIMessageStream({ stream: resumed!, terminateOnError: true })) message = m;
    const text = message!.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
    expect(text.split(" ")).toHaveLength(400);

    // The CLI: one message per line of stdin, each reply printed as it streams.
    const piped = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [join(repo, "cli", "edgeflow.mjs"), "chat", cv],
        { env: { ...process.env, EDGEFLOW_URL: local.base, EDGEFLOW_API_KEY: local.key }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
      // The model server is steered by the last user message with a directive: each line carries one.
      child.stdin?.end("[[key=thanks]] Thanks!\n\nOne more [[status=400]]\n[[key=bye]] Bye\n");
    });
    expect(piped.stdout).toBe("echo: Thanks!\necho: Bye\n");
    expect(piped.stderr).toMatch(/^turn failed: \w+: node reply: .*400/);
    expect(piped.code).toBe(1);
    const list = (await callLocal(local, "GET", "/v1/conversations?user_id=ada")).body.data;
    expect(list).toEqual([expect.objectContaining({ id: cv, message_count: 10, active_execution_id: null })]);
  }, 90_000);

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

  it("shows an agent's pending approval and then its turns in the dashboard's inspector", async () => {
    const script = 'order_status:{"id":"A-1"}|refund:{"id":"A-1"}|Order A-1: {results}';
    const wf = await callLocal(local, "POST", "/v1/workflows", {
      name: "support agent",
      nodes: [
        {
          id: "agent",
          kind: "agent",
          config: {
            tier: "mid",
            system: "You answer order questions.",
            messages: [{ role: "user", content: `Where is A-1? Refund it. [[key=ui-agent]] [[agent=${script}]]` }],
            tools: [
              {
                name: "order_status",
                input_schema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
                transform: "{ 'id': args.id, 'status': 'shipped' }",
              },
              {
                name: "refund",
                input_schema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
                transform: "{ 'refunded': args.id }",
                requires_approval: true,
              },
            ],
          },
        },
      ],
    });
    expect(wf.status, JSON.stringify(wf.body)).toBe(201);
    const started = await callLocal(local, "POST", `/v1/workflows/${wf.body.id}/executions`, { input: {} });
    const id = started.body.id as string;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${local.base}/`);
      await page.getByLabel("API key").fill(local.key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Executions" }).waitFor();
      await page.goto(`${local.base}/executions/${id}`);
      const node = page.locator('.step[data-node="agent"]');
      await node.and(page.locator('[data-status="waiting"]')).waitFor({ timeout: 20_000 });
      await node.click();
      const inspector = page.getByRole("complementary", { name: "Node agent" });
      await expect.poll(() => inspector.textContent()).toContain('refund({"id":"A-1"})');
      expect(await inspector.textContent()).toContain("approve:agent:t2.c0");
      await screenshot(page, "agent-approval");
      // Decided from the page, with the event the inspector names.
      await page.getByRole("button", { name: "Send event…" }).click();
      expect(await page.getByLabel("Event name").inputValue()).toBe("approve:agent:t2.c0");
      await page.getByLabel("Payload (JSON)").fill('{"approved": true, "by": "ops@example.com"}');
      await page.getByRole("button", { name: "Send", exact: true }).click();
      await node.and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 20_000 });
      const turns = inspector.getByRole("list", { name: "Agent turns" });
      await expect.poll(() => turns.locator(":scope > li").count()).toBe(3);
      const text = await turns.textContent();
      expect(text).toContain("openai:gpt-5-mini");
      expect(text).toContain("order_status");
      expect(text).toContain("refund");
      expect(text).toContain('Order A-1: {"id":"A-1","status":"shipped"}');
      await turns.locator("details").first().locator("summary").click();
      expect(await turns.locator("details").first().textContent()).toContain('"status": "shipped"');
      expect(await axeViolations(page, axeSource)).toEqual([]);
      await screenshot(page, "agent-turns");
    } finally {
      await browser.close();
    }
  }, 90_000);
});

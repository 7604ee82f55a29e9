// Real local model servers for tests, one per provider API: OpenAI Chat Completions (also OpenRouter's), Anthropic
// Messages, Gemini generateContent and Bedrock Converse (SigV4-checked). Each refuses what the real API refuses,
// with its real error body (test/support/model-contracts.ts), and answers as real models do: streamed in many
// chunks, cut at max_tokens with the provider's finish reason, continuing a cut answer, JSON inside prose.
// The last user message that holds directives steers them:
//   [[key=K]] counter key · [[fail=N:STATUS(:RETRY_AFTER_S)]] first N calls answer STATUS · [[status=S]] always S
//   [[slow=MS]] delay · [[badjson=N]] first N answers are not JSON · [[json=...]] the answer text · [[cost=USD]]
//   [[prose=1]] the answer wrapped in prose and a fence, as chat models write (not under strict constrained output)
//   [[needs_tokens=N]] the full answer is N tokens ("t0 t1 …"): under a smaller max_tokens it is cut, and a
//   continuation (Anthropic prefill, or "continue" after the cut answer) gets the rest · [[tool=NAME:{json}]] the
//   model calls that tool · [[stream_cut=N]] the first N streams break off · [[down=MODEL]] that model answers 503
//   [[agent=STEP|STEP|…]] an agent's turns, one STEP per model turn (the turn is the number of assistant turns since
//   this message): NAME:{json} calls a tool, several joined by & in one turn; anything else is the final answer,
//   where {results} becomes the tool results the model was given ("r1 ; r2 …"), as a model answers from them.
// POST /_fail-next {count, status, match?} fails the next `count` requests (for calls whose prompt is fixed): any
// request, or with `match` only those whose body holds that text, so a test file run beside it cannot take them.
// POST /_limits {model, rpm?, tpm?, window_ms} enforces OpenAI's rate limits on that model (test/support/rate-window.ts);
// GET /_limits/<model> says how many requests it accepted and refused.
// Usage is fixed (100 input, 50 output tokens, or what was said) so costs are exact.
import { createServer, type ServerResponse } from "node:http";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { AwsV4Signer } from "aws4fetch";
import { listenOnLoopback } from "./listen";
import { RateWindows } from "./rate-window";
import {
  anthropicRefusal,
  bedrockRefusal,
  googleRefusal,
  openaiRefusal,
  textOf,
  type Refusal,
} from "./model-contracts";

export type Flavor = "openai" | "anthropic" | "google" | "bedrock";

/** The AWS credentials the Bedrock server checks signatures with (the test config gives the Worker the same). */
export const BEDROCK_CREDENTIALS = {
  accessKeyId: "AKIDLOCALTEST",
  secretAccessKey: "local-secret-key",
  region: "us-east-1",
};

interface Turn {
  role: string;
  text: string;
}
/** A request as every flavor reduces it: who said what, what was asked for, how it is to be answered. */
interface Asked {
  model: string;
  system: string;
  turns: Turn[];
  maxTokens: number | undefined;
  /** The provider constrains decoding to JSON (OpenAI strict schema, a forced tool): no prose can come back. */
  constrained: boolean;
  forcedTool: string | null;
  tools: string[];
  /** The tool results in the conversation, as the model reads them (text). */
  toolResults: string[];
  stream: boolean;
  /** OpenAI: the last chunk of a stream carries usage only when stream_options.include_usage asks for it. */
  includeUsage?: boolean;
}
interface Answer {
  text: string;
  toolCall: { name: string; input: unknown } | null;
  /** Several calls in one turn (an agent's [[agent=…]] step); toolCall is the first. */
  toolCalls?: { name: string; input: unknown }[];
  outputTokens: number;
  cut: boolean;
  cost: string | undefined;
  cutStream: boolean;
}

const CONTINUE = /continue exactly where it stopped/i;

export async function startLlmServer(flavor: Flavor): Promise<{ url: string; close: () => Promise<void> }> {
  const calls = new Map<string, { headers: Record<string, unknown>; body: any }[]>();
  // (what is recorded per call: see `seen` below)
  let failNext: { count: number; status: number; match?: string } = { count: 0, status: 503 };
  const windows = new RateWindows();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    const url = req.url ?? "";
    if (req.method === "GET" && url.startsWith("/_calls/"))
      return send(200, { calls: calls.get(decodeURIComponent(url.slice(8))) ?? [] });
    if (req.method === "POST" && url === "/_fail-next") {
      failNext = JSON.parse(raw) as typeof failNext;
      return send(200, failNext);
    }
    if (req.method === "POST" && url === "/_limits") {
      const { model, ...limits } = JSON.parse(raw);
      windows.set(model, limits);
      return send(200, { model, ...limits });
    }
    if (req.method === "GET" && url.startsWith("/_limits/"))
      return send(200, windows.report(decodeURIComponent(url.slice(9))));
    if (failNext.count > 0 && (failNext.match === undefined || raw.includes(failNext.match))) {
      failNext.count--;
      return send(failNext.status, errorBody(flavor, failNext.status, "the server was told to fail"));
    }
    const route = routeOf(flavor, req.method ?? "", url);
    if (!route) return send(404, errorBody(flavor, 404, `no route ${req.method} ${url}`));
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      return send(400, errorBody(flavor, 400, "the body is not JSON"));
    }
    if (flavor === "bedrock") {
      const bad = await sigv4Problem(req.method ?? "POST", `http://${req.headers.host}${url}`, req.headers, raw);
      if (bad) return send(403, { message: bad }, { "x-amzn-errortype": "InvalidSignatureException" });
    }
    const refusal = refusalOf(flavor, route.model, body, req.headers);
    if (refusal) return send(refusal.status, refusal.body);
    const limited = flavor === "openai" ? windows.check(String(body.model), body) : null;
    if (limited) return send(limited.status, limited.body, limited.headers);
    const asked = askedOf(flavor, body, route);
    const steer = directives(asked);
    const key = steer("key") ?? "default";
    // Each call as sent, and as every provider's shape reduces to it (system, turns, stream), for tests that do not
    // care which provider a tier names.
    const seen = { headers: req.headers, body, system: asked.system, turns: asked.turns, stream: asked.stream };
    const history = [...(calls.get(key) ?? []), seen];
    calls.set(key, history);
    const n = history.length;
    if (steer("slow")) await new Promise((r) => setTimeout(r, Number(steer("slow"))));
    if (steer("down") === asked.model) return send(503, errorBody(flavor, 503, `${asked.model} is overloaded`));
    const always = steer("status");
    if (always) return send(Number(always), errorBody(flavor, Number(always), `forced status ${always}`));
    const fail = steer("fail")?.split(":");
    if (fail && n <= Number(fail[0]))
      return send(
        Number(fail[1] ?? 500),
        errorBody(flavor, Number(fail[1] ?? 500), `planned failure ${n}`),
        fail[2] ? { "retry-after": fail[2] } : {},
      );
    const answer = plan(asked, steer, n);
    if (flavor === "openai") return openaiAnswer(res, send, asked, answer, n);
    if (flavor === "anthropic") return anthropicAnswer(res, send, asked, answer, n);
    if (flavor === "google") return googleAnswer(res, asked, answer);
    return bedrockAnswer(res, answer);
  });
  return listenOnLoopback(server);
}

function routeOf(flavor: Flavor, method: string, url: string): { model: string; stream: boolean } | null {
  if (method !== "POST") return null;
  const path = url.split("?")[0] ?? "";
  if (flavor === "openai") return path === "/v1/chat/completions" ? { model: "", stream: false } : null;
  if (flavor === "anthropic") return path === "/v1/messages" ? { model: "", stream: false } : null;
  if (flavor === "google") {
    const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path);
    return m ? { model: decodeURIComponent(m[1]!), stream: m[2] === "streamGenerateContent" } : null;
  }
  const m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
  return m ? { model: decodeURIComponent(m[1]!), stream: m[2] === "converse-stream" } : null;
}

function errorBody(flavor: Flavor, status: number, message: string): unknown {
  if (flavor === "anthropic")
    return { type: "error", error: { type: status === 529 ? "overloaded_error" : "api_error", message } };
  if (flavor === "google") return { error: { code: status, message, status: "UNAVAILABLE" } };
  if (flavor === "bedrock") return { message };
  return { error: { message, type: "server_error", param: null, code: null } };
}

function refusalOf(flavor: Flavor, model: string, body: any, headers: Record<string, unknown>): Refusal | null {
  if (flavor === "openai") return openaiRefusal(body, headers, String(body.model ?? "").includes("/"));
  if (flavor === "anthropic") return anthropicRefusal(body, headers);
  if (flavor === "google") return googleRefusal(model, body, headers);
  return bedrockRefusal(model, body);
}

function askedOf(flavor: Flavor, body: any, route: { model: string; stream: boolean }): Asked {
  if (flavor === "openai")
    return {
      model: body.model,
      system: (body.messages ?? [])
        .filter((m: any) => m.role === "system" || m.role === "developer")
        .map((m: any) => textOf(m.content))
        .join("\n"),
      turns: (body.messages ?? [])
        .filter((m: any) => m.role === "user" || m.role === "assistant")
        .map((m: any) => ({ role: m.role, text: textOf(m.content) })),
      maxTokens: body.max_completion_tokens ?? body.max_tokens,
      constrained: body.response_format?.type === "json_schema" && body.response_format.json_schema?.strict === true,
      forcedTool: null,
      tools: (body.tools ?? []).map((t: any) => t.function?.name),
      toolResults: (body.messages ?? []).filter((m: any) => m.role === "tool").map((m: any) => textOf(m.content)),
      stream: body.stream === true,
      includeUsage: body.stream_options?.include_usage === true,
    };
  if (flavor === "anthropic") {
    const forced = body.tool_choice?.type === "tool" ? String(body.tool_choice.name) : null;
    return {
      model: body.model,
      system: typeof body.system === "string" ? body.system : textOf(body.system),
      turns: (body.messages ?? []).map((m: any) => ({ role: m.role, text: textOf(m.content) })),
      maxTokens: body.max_tokens,
      // Structured outputs (output_config.format) and a forced tool both constrain decoding to the schema.
      constrained: forced !== null || body.output_config?.format?.type === "json_schema",
      forcedTool: forced,
      tools: (body.tools ?? []).map((t: any) => t.name),
      toolResults: (body.messages ?? []).flatMap((m: any) =>
        Array.isArray(m.content)
          ? m.content.filter((b: any) => b?.type === "tool_result").map((b: any) => textOf(b.content))
          : [],
      ),
      stream: body.stream === true,
    };
  }
  if (flavor === "google")
    return {
      model: route.model,
      system: textOf(body.systemInstruction?.parts),
      turns: (body.contents ?? []).map((c: any) => ({
        role: c.role === "model" ? "assistant" : "user",
        text: textOf(c.parts),
      })),
      maxTokens: body.generationConfig?.maxOutputTokens,
      constrained: Boolean(body.generationConfig?.responseSchema ?? body.generationConfig?.responseJsonSchema),
      forcedTool: null,
      tools: (body.tools ?? []).flatMap((t: any) => (t.functionDeclarations ?? []).map((f: any) => f.name)),
      toolResults: (body.contents ?? []).flatMap((c: any) =>
        (c.parts ?? [])
          .filter((p: any) => p.functionResponse)
          .map((p: any) => JSON.stringify(p.functionResponse.response)),
      ),
      stream: route.stream,
    };
  const forced = body.toolConfig?.toolChoice?.tool?.name ?? null;
  return {
    model: route.model,
    system: textOf(body.system),
    turns: (body.messages ?? []).map((m: any) => ({ role: m.role, text: textOf(m.content) })),
    maxTokens: body.inferenceConfig?.maxTokens,
    constrained: forced !== null,
    forcedTool: forced,
    tools: (body.toolConfig?.tools ?? []).map((t: any) => t.toolSpec?.name),
    toolResults: (body.messages ?? []).flatMap((m: any) =>
      (m.content ?? []).filter((b: any) => b?.toolResult).map((b: any) => JSON.stringify(b.toolResult.content)),
    ),
    stream: route.stream,
  };
}

/** Directives come from the newest user turn that has any (a continuation or a repair turn has none of its own). */
function directives(asked: Asked): (name: string) => string | undefined {
  const users = asked.turns.filter((t) => t.role === "user").map((t) => t.text);
  const steering = [...users].reverse().find((t) => t.includes("[[")) ?? users[users.length - 1] ?? "";
  const conversation = [asked.system, ...asked.turns.map((t) => t.text)].join("\n");
  // [[name@TAG=value]] applies only to calls whose prompt says "TASK: TAG"; [[name=value]] to every call.
  return (name) => {
    for (const m of steering.matchAll(new RegExp(`\\[\\[${name}@([\\w-]+)=(.*?)\\]\\]`, "g"))) {
      if (conversation.includes(`TASK: ${m[1]}.`)) return m[2];
    }
    return new RegExp(`\\[\\[${name}=(.*?)\\]\\]`).exec(steering)?.[1];
  };
}

function plan(asked: Asked, steer: (name: string) => string | undefined, n: number): Answer {
  const users = asked.turns.filter((t) => t.role === "user");
  const steering = [...users].reverse().find((t) => t.text.includes("[[")) ?? users[users.length - 1];
  const needs = Number(steer("needs_tokens") ?? 0);
  const common = { cost: steer("cost"), cutStream: n <= Number(steer("stream_cut") ?? 0) };
  const script = steer("agent");
  if (script !== undefined && asked.tools.length) {
    // The turn: assistant turns since the steering message (each a turn of this loop).
    const from = asked.turns.findIndex((t) => t === steering);
    const turn = asked.turns.slice(from + 1).filter((t) => t.role === "assistant").length;
    const stepText = script.split("|")[turn] ?? script.split("|").at(-1) ?? "";
    const calls = stepText
      .split("&")
      .map((c) => /^([A-Za-z0-9_-]+):(\{.*\})$/.exec(c.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[1] as string, input: JSON.parse(m[2] as string) }));
    if (calls.length)
      return { ...common, text: "", toolCall: calls[0] ?? null, toolCalls: calls, outputTokens: 30, cut: false };
    return {
      ...common,
      text: stepText.replace("{results}", asked.toolResults.join(" ; ")),
      toolCall: null,
      outputTokens: 40,
      cut: false,
    };
  }
  const tool = steer("tool");
  if (tool && asked.tools.length) {
    const cut = tool.indexOf(":");
    return {
      ...common,
      text: "",
      toolCall: { name: tool.slice(0, cut), input: JSON.parse(tool.slice(cut + 1)) },
      outputTokens: 30,
      cut: false,
    };
  }
  if (needs > 0) {
    // A long answer in tokens "t0 t1 …"; what the conversation already holds of it (a continuation) is not said again.
    const last = asked.turns[asked.turns.length - 1];
    const before = asked.turns[asked.turns.length - 2];
    const sofar =
      last?.role === "assistant"
        ? last.text
        : CONTINUE.test(last?.text ?? "") && before?.role === "assistant"
          ? before.text
          : "";
    const said = sofar.trim() ? sofar.trim().split(/\s+/).length : 0;
    const room = asked.maxTokens ?? Infinity;
    const left = needs - said;
    const take = Math.min(left, room);
    const words = Array.from({ length: take }, (_, i) => `t${said + i}`).join(" ");
    return { ...common, text: (said > 0 ? " " : "") + words, toolCall: null, outputTokens: take, cut: take < left };
  }
  const badjson = Number(steer("badjson") ?? 0);
  let text =
    n <= badjson
      ? "this is {not json"
      : (steer("json") ?? `echo: ${(steering?.text ?? "").replace(/\[\[.*?\]\]/g, "").trim()}`);
  if (asked.forcedTool) {
    let input: unknown = {};
    try {
      input = JSON.parse(text);
    } catch {
      // A forced tool's input is JSON by construction: a model with nothing to say fills it with nothing.
    }
    return { ...common, text: "", toolCall: { name: asked.forcedTool, input }, outputTokens: 50, cut: false };
  }
  if (steer("prose") && !asked.constrained)
    text = `Sure! Here is the JSON you asked for:\n\n\`\`\`json\n${text}\n\`\`\`\n\nLet me know if you want any changes.`;
  return { ...common, text, toolCall: null, outputTokens: 50, cut: false };
}

// Many small chunks, as models stream; a long answer in at most ~200 of them, so a test does not wait minutes.
const pieces = (text: string) => {
  const size = Math.max(8, Math.ceil(text.length / 200));
  return text.match(new RegExp(`[\\s\\S]{1,${size}}`, "g")) ?? [];
};
const tick = () => new Promise((r) => setTimeout(r, 15));

async function openaiAnswer(
  res: ServerResponse,
  send: (status: number, body: unknown) => void,
  asked: Asked,
  a: Answer,
  n: number,
) {
  const finish = a.toolCall ? "tool_calls" : a.cut ? "length" : "stop";
  const usage = {
    prompt_tokens: 100,
    completion_tokens: a.outputTokens,
    total_tokens: 100 + a.outputTokens,
    ...(a.cost ? { cost: Number(a.cost) } : {}),
  };
  const toolCalls = a.toolCall
    ? (a.toolCalls ?? [a.toolCall]).map((c, i) => ({
        id: `call_${n}_${i}`,
        type: "function",
        function: { name: c.name, arguments: JSON.stringify(c.input) },
      }))
    : undefined;
  if (!asked.stream)
    return send(200, {
      id: `chatcmpl-${n}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: asked.model,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: a.toolCall ? null : a.text,
            ...(toolCalls ? { tool_calls: toolCalls } : {}),
          },
          finish_reason: finish,
        },
      ],
      usage,
    });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${JSON.stringify({ id: `chatcmpl-${n}`, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: asked.model, choices, ...extra })}\n\n`,
    );
  chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
  const parts = pieces(a.text);
  for (const [i, piece] of parts.entries()) {
    if (a.cutStream && i >= parts.length / 2) return res.end();
    await tick();
    chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
  }
  if (toolCalls)
    chunk([{ index: 0, delta: { tool_calls: toolCalls.map((t, index) => ({ index, ...t })) }, finish_reason: null }]);
  chunk([{ index: 0, delta: {}, finish_reason: finish }]);
  // Usage comes in a last chunk only when the request asked for it (stream_options.include_usage).
  if (asked.includeUsage) chunk([], { usage });
  res.write("data: [DONE]\n\n");
  res.end();
}

async function anthropicAnswer(
  res: ServerResponse,
  send: (status: number, body: unknown) => void,
  asked: Asked,
  a: Answer,
  n: number,
) {
  const stop = a.toolCall ? "tool_use" : a.cut ? "max_tokens" : "end_turn";
  const calls = a.toolCall ? (a.toolCalls ?? [a.toolCall]) : [];
  const content = calls.length
    ? calls.map((c, i) => ({ type: "tool_use", id: `toolu_${n}_${i}`, name: c.name, input: c.input }))
    : [{ type: "text", text: a.text }];
  if (!asked.stream)
    return send(200, {
      id: `msg_${n}`,
      type: "message",
      role: "assistant",
      model: asked.model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: a.outputTokens },
    });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const event = (name: string, data: Record<string, unknown>) =>
    res.write(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`);
  event("message_start", {
    message: {
      id: `msg_${n}`,
      type: "message",
      role: "assistant",
      model: asked.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 1 },
    },
  });
  if (calls.length) {
    for (const [index, c] of calls.entries()) {
      event("content_block_start", {
        index,
        content_block: { type: "tool_use", id: `toolu_${n}_${index}`, name: c.name, input: {} },
      });
      for (const piece of pieces(JSON.stringify(c.input))) {
        await tick();
        event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: piece } });
      }
      if (index < calls.length - 1) event("content_block_stop", { index });
    }
  } else {
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
    const parts = pieces(a.text);
    for (const [i, piece] of parts.entries()) {
      if (a.cutStream && i >= parts.length / 2) return res.end();
      await tick();
      event("content_block_delta", { index: 0, delta: { type: "text_delta", text: piece } });
    }
  }
  event("content_block_stop", { index: Math.max(0, calls.length - 1) });
  event("message_delta", {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: a.outputTokens },
  });
  event("message_stop", {});
  res.end();
}

async function googleAnswer(res: ServerResponse, asked: Asked, a: Answer) {
  const finish = a.cut ? "MAX_TOKENS" : "STOP";
  const usageMetadata = {
    promptTokenCount: 100,
    candidatesTokenCount: a.outputTokens,
    totalTokenCount: 100 + a.outputTokens,
  };
  // Function calls come whole, in one part each (Gemini does not stream a call's arguments).
  const calls = a.toolCall ? (a.toolCalls ?? [a.toolCall]) : [];
  const parts0 = (text: string) =>
    calls.length ? calls.map((c) => ({ functionCall: { name: c.name, args: c.input } })) : [{ text }];
  const candidate = (text: string, done: boolean) => ({
    candidates: [
      { content: { parts: parts0(text), role: "model" }, index: 0, ...(done ? { finishReason: finish } : {}) },
    ],
    ...(done ? { usageMetadata } : {}),
    modelVersion: asked.model,
  });
  if (!asked.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(candidate(a.text, true)));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  if (calls.length) {
    res.write(`data: ${JSON.stringify(candidate("", true))}\r\n\r\n`);
    return res.end();
  }
  const parts = pieces(a.text);
  for (const [i, piece] of parts.entries()) {
    if (a.cutStream && i >= parts.length / 2) return res.end();
    await tick();
    res.write(`data: ${JSON.stringify(candidate(piece, i === parts.length - 1))}\r\n\r\n`);
  }
  if (!parts.length) res.write(`data: ${JSON.stringify(candidate("", true))}\r\n\r\n`);
  res.end();
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** Bedrock's ConverseStream: AWS event-stream frames (binary), one event per frame. */
async function bedrockAnswer(res: ServerResponse, a: Answer) {
  res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" });
  const frame = (type: string, payload: unknown) =>
    res.write(
      codec.encode({
        headers: {
          ":event-type": { type: "string", value: type },
          ":content-type": { type: "string", value: "application/json" },
          ":message-type": { type: "string", value: "event" },
        },
        body: fromUtf8(JSON.stringify(payload)),
      }),
    );
  frame("messageStart", { role: "assistant" });
  const calls = a.toolCall ? (a.toolCalls ?? [a.toolCall]) : [];
  if (calls.length) {
    const turn = Date.now().toString(36);
    for (const [i, c] of calls.entries()) {
      frame("contentBlockStart", {
        contentBlockIndex: i,
        start: { toolUse: { toolUseId: `tooluse_${turn}_${i}`, name: c.name } },
      });
      frame("contentBlockDelta", { contentBlockIndex: i, delta: { toolUse: { input: JSON.stringify(c.input) } } });
      if (i < calls.length - 1) frame("contentBlockStop", { contentBlockIndex: i });
    }
  } else {
    const parts = pieces(a.text);
    for (const [i, piece] of parts.entries()) {
      if (a.cutStream && i >= parts.length / 2) return res.end();
      await tick();
      frame("contentBlockDelta", { contentBlockIndex: 0, delta: { text: piece } });
    }
  }
  frame("contentBlockStop", { contentBlockIndex: Math.max(0, calls.length - 1) });
  frame("messageStop", { stopReason: a.toolCall ? "tool_use" : a.cut ? "max_tokens" : "end_turn" });
  frame("metadata", {
    usage: { inputTokens: 100, outputTokens: a.outputTokens, totalTokens: 100 + a.outputTokens },
    metrics: { latencyMs: 20 },
  });
  res.end();
}

/** SigV4 as AWS checks it: the same request signed again with the same key must give the same signature. */
async function sigv4Problem(
  method: string,
  url: string,
  headers: Record<string, unknown>,
  body: string,
): Promise<string | null> {
  const auth = String(headers.authorization ?? "");
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
      auth,
    );
  if (!m) return "Missing Authentication Token";
  const [, keyId, , region, service, signed, signature] = m;
  if (keyId !== BEDROCK_CREDENTIALS.accessKeyId) return "The security token included in the request is invalid.";
  const datetime = String(headers["x-amz-date"] ?? "");
  const kept: Record<string, string> = {};
  for (const name of signed!.split(";")) if (name !== "host") kept[name] = String(headers[name] ?? "");
  const again = new AwsV4Signer({
    method,
    url,
    headers: kept,
    body,
    accessKeyId: keyId!,
    secretAccessKey: BEDROCK_CREDENTIALS.secretAccessKey,
    service: service!,
    region: region!,
    datetime,
  });
  const expected = await again.signature();
  return expected === signature
    ? null
    : "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.";
}

// Real local model servers for tests: an OpenAI-compatible Chat Completions server and an Anthropic Messages
// server. The last user message steers them with directives:
//   [[key=K]] counter key · [[fail=N:STATUS(:RETRY_AFTER_S)]] first N calls answer STATUS · [[status=S]] always S
//   [[slow=MS]] delay · [[badjson=N]] first N answers are not JSON · [[json=...]] the answer text · [[cost=USD]]
// POST /_fail-next {count, status} fails the next requests whatever they say (for calls whose prompt is fixed).
// A request with stream: true is answered as server-sent events; [[stream_cut=N]] breaks off the first N streams.
// [[needs_tokens=N]] the answer needs N tokens: under a smaller max_tokens it is cut (finish_reason length /
// stop_reason max_tokens). Usage is fixed (100 input, 50 output tokens, or what was said) so costs are exact.
import { createServer } from "node:http";
import { listenOnLoopback } from "./listen";

type Flavor = "openai" | "anthropic";

export async function startLlmServer(flavor: Flavor): Promise<{ url: string; close: () => Promise<void> }> {
  const calls = new Map<string, { headers: Record<string, unknown>; body: any }[]>();
  let failNext: { count: number; status: number } = { count: 0, status: 503 };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    if (req.method === "GET" && req.url?.startsWith("/_calls/"))
      return send(200, { calls: calls.get(decodeURIComponent(req.url.slice(8))) ?? [] });
    if (req.method === "POST" && req.url === "/_fail-next") {
      failNext = JSON.parse(raw) as typeof failNext;
      return send(200, failNext);
    }
    if (failNext.count > 0) {
      failNext.count--;
      return send(failNext.status, { error: { message: "the server was told to fail" } });
    }
    const path = flavor === "openai" ? "/v1/chat/completions" : "/v1/messages";
    if (req.method !== "POST" || req.url !== path)
      return send(404, { error: { message: `no route ${req.method} ${req.url}` } });
    const authorized =
      flavor === "openai"
        ? /^Bearer \S+/.test(String(req.headers.authorization ?? ""))
        : Boolean(req.headers["x-api-key"]);
    if (!authorized) return send(401, { error: { message: "missing API key" } });
    const body = JSON.parse(raw) as {
      model: string;
      system?: string;
      messages: { role: string; content: string }[];
      response_format?: unknown;
    };
    const last = [...body.messages].reverse().find((m) => m.role === "user")?.content ?? "";
    const conversation = [body.system ?? "", ...body.messages.map((m) => m.content)].join("\n");
    // [[name@TAG=value]] applies only to calls whose prompt says "TASK: TAG"; [[name=value]] to every call.
    const d = (name: string): string | undefined => {
      for (const m of last.matchAll(new RegExp(`\\[\\[${name}@([\\w-]+)=(.*?)\\]\\]`, "g"))) {
        if (conversation.includes(`TASK: ${m[1]}.`)) return m[2];
      }
      return new RegExp(`\\[\\[${name}=(.*?)\\]\\]`).exec(last)?.[1];
    };
    const key = d("key") ?? "default";
    const history = [...(calls.get(key) ?? []), { headers: req.headers, body }];
    calls.set(key, history);
    const n = history.length;
    if (d("slow")) await new Promise((r) => setTimeout(r, Number(d("slow"))));
    // [[down=MODEL]]: that model answers 503 every time (others answer normally), for fallbacks.
    if (d("down") === body.model) return send(503, { error: { message: `${body.model} is overloaded` } });
    const always = d("status");
    if (always) return send(Number(always), { error: { message: `forced status ${always}` } });
    const fail = d("fail")?.split(":");
    if (fail && n <= Number(fail[0])) {
      return send(
        Number(fail[1] ?? 500),
        { error: { message: `planned failure ${n}` } },
        fail[2] ? { "retry-after": fail[2] } : {},
      );
    }
    const badjson = Number(d("badjson") ?? 0);
    const text = n <= badjson ? "this is {not json" : (d("json") ?? `echo: ${last.replace(/\[\[.*?\]\]/g, "").trim()}`);
    // [[needs_tokens=N]]: the full answer takes N tokens; under a smaller max_tokens it is cut, as real models cut it.
    const needs = Number(d("needs_tokens") ?? 0);
    const maxTokens = Number((body as { max_tokens?: number }).max_tokens ?? Infinity);
    const cut = needs > 0 && maxTokens < needs;
    const said = cut ? text.slice(0, Math.max(1, Math.floor((text.length * maxTokens) / needs))) : text;
    const outputTokens = cut ? maxTokens : needs || 50;
    const cost = d("cost");
    if ((body as { stream?: boolean }).stream) {
      // Server-sent events as the real APIs send them, a piece every 15 ms; [[stream_cut=N]] breaks off the first N.
      const pieces = said.match(/[\s\S]{1,8}/g) ?? [""];
      const cutShort = n <= Number(d("stream_cut") ?? 0);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const event = (data: unknown, name?: string) =>
        res.write(`${name ? `event: ${name}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
      if (flavor === "anthropic")
        event({ type: "message_start", message: { model: body.model, usage: { input_tokens: 100 } } }, "message_start");
      for (const [i, piece] of pieces.entries()) {
        if (cutShort && i >= pieces.length / 2) return res.end();
        await new Promise((r) => setTimeout(r, 15));
        if (flavor === "openai")
          event({
            id: `chatcmpl-${n}`,
            object: "chat.completion.chunk",
            model: body.model,
            choices: [{ index: 0, delta: { content: piece }, finish_reason: null }],
          });
        else
          event(
            { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: piece } },
            "content_block_delta",
          );
      }
      if (flavor === "openai") {
        event({
          id: `chatcmpl-${n}`,
          object: "chat.completion.chunk",
          model: body.model,
          choices: [{ index: 0, delta: {}, finish_reason: cut ? "length" : "stop" }],
        });
        event({
          id: `chatcmpl-${n}`,
          object: "chat.completion.chunk",
          model: body.model,
          choices: [],
          usage: { prompt_tokens: 100, completion_tokens: outputTokens },
        });
        res.write("data: [DONE]\n\n");
      } else {
        event(
          {
            type: "message_delta",
            delta: { stop_reason: cut ? "max_tokens" : "end_turn" },
            usage: { output_tokens: outputTokens },
          },
          "message_delta",
        );
        event({ type: "message_stop" }, "message_stop");
      }
      return res.end();
    }
    if (flavor === "openai") {
      return send(200, {
        id: `chatcmpl-${n}`,
        object: "chat.completion",
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: said }, finish_reason: cut ? "length" : "stop" }],
        usage: {
          prompt_tokens: 100,
          completion_tokens: outputTokens,
          total_tokens: 100 + outputTokens,
          ...(cost ? { cost: Number(cost) } : {}),
        },
      });
    }
    return send(200, {
      id: `msg_${n}`,
      type: "message",
      role: "assistant",
      model: body.model,
      content: [{ type: "text", text: said }],
      stop_reason: cut ? "max_tokens" : "end_turn",
      usage: { input_tokens: 100, output_tokens: outputTokens },
    });
  });
  return listenOnLoopback(server);
}

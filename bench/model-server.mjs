// The bench's streaming model: OpenAI's Chat Completions streaming contract (chat.completion.chunk events, a
// finish_reason, usage when stream_options asks, then [DONE]), answering "t0 t1 …" in chunks of 10 tokens. The
// user message says how many tokens (`tokens=N`) and how many tokens a second it writes (`rate=R`, 0 = at once).
import { createServer } from "node:http";

export async function startModelServer(port) {
  const server = createServer(async (req, res) => {
    let raw = "";
    for await (const c of req) raw += c;
    if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
    }
    const body = JSON.parse(raw);
    const said = body.messages.map((m) => (typeof m.content === "string" ? m.content : "")).join(" ");
    const tokens = Number(/tokens=(\d+)/.exec(said)?.[1] ?? 100);
    const rate = Number(/rate=(\d+)/.exec(said)?.[1] ?? 0);
    const id = `chatcmpl-bench-${Date.now()}`;
    const chunk = (choices, extra = {}) =>
      res.write(
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: body.model, choices, ...extra })}\n\n`,
      );
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
    for (let t = 0; t < tokens; t += 10) {
      const piece = Array.from({ length: Math.min(10, tokens - t) }, (_, i) => `t${t + i}`).join(" ");
      chunk([{ index: 0, delta: { content: t ? ` ${piece}` : piece }, finish_reason: null }]);
      if (rate) await new Promise((r) => setTimeout(r, (10 / rate) * 1000));
    }
    chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
    if (body.stream_options?.include_usage)
      chunk([], { usage: { prompt_tokens: 20, completion_tokens: tokens, total_tokens: tokens + 20 } });
    res.end("data: [DONE]\n\n");
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

// One call to a model, in each protocol; errors are RetryableError / FatalError by the provider's status.
import { allowedHosts, guardedFetch, SsrfError } from "../../lib/ssrf";
import { readCapped } from "../../lib/stream";
import { retryAfter } from "../http";

const MAX_PROVIDER_RESPONSE_BYTES = 8 * 1024 * 1024;
import { FatalError, RetryableError } from "../types";
import type { ResolvedModel } from "./config";

export interface ChatMessage {
  role: "user" | "assistant" | "system";
  content: string;
}

export interface LlmRequest {
  traceparent?: string | undefined;
  system?: string | undefined;
  messages: ChatMessage[];
  max_tokens: number;
  temperature?: number | undefined;
  json: boolean;
  idempotencyKey: string;
  attempt: number;
  signal: AbortSignal;
  /** Set: the provider's streaming API is used and each piece of text is handed here as it arrives. */
  onText?: ((text: string) => void) | undefined;
}

export interface LlmResponse {
  text: string;
  model: string;
  usage: { input_tokens: number; output_tokens: number };
  /** The cost the provider reported (OpenRouter does), in USD. */
  reported_cost_usd: number | null;
  /** The answer was cut by the token limit (finish_reason "length", stop_reason "max_tokens"). */
  truncated: boolean;
}

export async function callModel(env: Env, target: ResolvedModel, req: LlmRequest): Promise<LlmResponse> {
  if (target.protocol === "workers-ai") return workersAi(env, target, req);
  const guarded = { ...req, allowed: allowedHosts(env) };
  return target.protocol === "anthropic" ? anthropic(target, guarded) : openaiCompatible(target, guarded);
}

type GuardedRequest = LlmRequest & { allowed: string[] };

async function openaiCompatible(t: ResolvedModel, req: GuardedRequest): Promise<LlmResponse> {
  const messages = [...(req.system ? [{ role: "system", content: req.system }] : []), ...req.messages];
  const body = {
    model: t.model,
    messages,
    max_tokens: req.max_tokens,
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.json ? { response_format: { type: "json_object" } } : {}),
    // OpenRouter reports the call's cost when asked; other servers ignore the field.
    usage: { include: true },
  };
  if (req.onText) return openaiStream(t, req, body, req.onText);
  const data = await post(
    `${t.baseUrl}/chat/completions`,
    t,
    req,
    { ...(t.apiKey ? { authorization: `Bearer ${t.apiKey}` } : {}) },
    body,
  );
  const d = data as {
    model?: string;
    choices?: { message?: { content?: string }; finish_reason?: string }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number; cost?: number };
  };
  const text = d.choices?.[0]?.message?.content;
  if (typeof text !== "string")
    throw new RetryableError("provider_bad_response", `${t.provider} answered without choices[0].message.content`);
  return {
    text,
    model: d.model ?? t.model,
    usage: { input_tokens: d.usage?.prompt_tokens ?? 0, output_tokens: d.usage?.completion_tokens ?? 0 },
    reported_cost_usd: typeof d.usage?.cost === "number" ? d.usage.cost : null,
    truncated: d.choices?.[0]?.finish_reason === "length",
  };
}

async function anthropic(t: ResolvedModel, req: GuardedRequest): Promise<LlmResponse> {
  const body = {
    model: t.model,
    max_tokens: req.max_tokens,
    messages: req.messages.filter((m) => m.role !== "system"),
    ...(req.system ? { system: req.system } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
  };
  if (req.onText) return anthropicStream(t, req, body, req.onText);
  const data = await post(
    `${t.baseUrl}/v1/messages`,
    t,
    req,
    { "x-api-key": t.apiKey ?? "", "anthropic-version": "2023-06-01" },
    body,
  );
  const d = data as {
    model?: string;
    content?: { type: string; text?: string }[];
    usage?: { input_tokens?: number; output_tokens?: number };
    stop_reason?: string;
  };
  if (!Array.isArray(d.content))
    throw new RetryableError("provider_bad_response", `${t.provider} answered without content`);
  return {
    text: d.content
      .filter((c) => c.type === "text")
      .map((c) => c.text ?? "")
      .join(""),
    model: d.model ?? t.model,
    usage: { input_tokens: d.usage?.input_tokens ?? 0, output_tokens: d.usage?.output_tokens ?? 0 },
    reported_cost_usd: null,
    truncated: d.stop_reason === "max_tokens",
  };
}

/** OpenAI's chat completions with stream: true; usage comes in the last chunk (stream_options.include_usage). */
async function openaiStream(
  t: ResolvedModel,
  req: GuardedRequest,
  body: object,
  onText: (text: string) => void,
): Promise<LlmResponse> {
  const out = {
    text: "",
    model: t.model,
    finish: null as string | null,
    usage: { input_tokens: 0, output_tokens: 0 },
    cost: null as number | null,
  };
  const auth: Record<string, string> = t.apiKey ? { authorization: `Bearer ${t.apiKey}` } : {};
  const streamed = { ...body, stream: true, stream_options: { include_usage: true } };
  const done = await postStream(`${t.baseUrl}/chat/completions`, t, req, auth, streamed, (d) => {
    const chunk = d as {
      model?: string;
      choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
      usage?: { prompt_tokens?: number; completion_tokens?: number; cost?: number } | null;
    };
    if (chunk.model) out.model = chunk.model;
    const piece = chunk.choices?.[0]?.delta?.content;
    if (piece) {
      out.text += piece;
      onText(piece);
    }
    out.finish = chunk.choices?.[0]?.finish_reason ?? out.finish;
    if (chunk.usage) {
      out.usage = { input_tokens: chunk.usage.prompt_tokens ?? 0, output_tokens: chunk.usage.completion_tokens ?? 0 };
      if (typeof chunk.usage.cost === "number") out.cost = chunk.usage.cost;
    }
    return false;
  });
  if (!done || out.finish === null)
    throw new RetryableError("provider_stream_cut", `${t.provider} ended the stream before the answer did`);
  return {
    text: out.text,
    model: out.model,
    usage: out.usage,
    reported_cost_usd: out.cost,
    truncated: out.finish === "length",
  };
}

/** Anthropic's messages with stream: true: text deltas, then message_delta with the stop reason, then message_stop. */
async function anthropicStream(
  t: ResolvedModel,
  req: GuardedRequest,
  body: object,
  onText: (text: string) => void,
): Promise<LlmResponse> {
  const out = { text: "", model: t.model, stop: null as string | null, usage: { input_tokens: 0, output_tokens: 0 } };
  const auth = { "x-api-key": t.apiKey ?? "", "anthropic-version": "2023-06-01" };
  const done = await postStream(`${t.baseUrl}/v1/messages`, t, req, auth, { ...body, stream: true }, (d) => {
    const e = d as {
      type?: string;
      message?: { model?: string; usage?: { input_tokens?: number } };
      delta?: { type?: string; text?: string; stop_reason?: string };
      usage?: { output_tokens?: number };
    };
    if (e.type === "message_start") {
      out.model = e.message?.model ?? out.model;
      out.usage.input_tokens = e.message?.usage?.input_tokens ?? 0;
    } else if (e.type === "content_block_delta" && e.delta?.type === "text_delta" && e.delta.text) {
      out.text += e.delta.text;
      onText(e.delta.text);
    } else if (e.type === "message_delta") {
      out.stop = e.delta?.stop_reason ?? out.stop;
      out.usage.output_tokens = e.usage?.output_tokens ?? out.usage.output_tokens;
    }
    return e.type === "message_stop";
  });
  if (!done) throw new RetryableError("provider_stream_cut", `${t.provider} ended the stream before message_stop`);
  return {
    text: out.text,
    model: out.model,
    usage: out.usage,
    reported_cost_usd: null,
    truncated: out.stop === "max_tokens",
  };
}

interface AiBinding {
  run(model: string, input: unknown, options?: unknown): Promise<unknown>;
}

async function workersAi(env: Env, t: ResolvedModel, req: LlmRequest): Promise<LlmResponse> {
  const ai = (env as unknown as { AI?: AiBinding }).AI;
  if (!ai)
    throw new FatalError(
      "provider_not_configured",
      'provider "workers-ai" needs the AI binding: add [ai] binding = "AI" to wrangler.toml',
    );
  const messages = [...(req.system ? [{ role: "system", content: req.system }] : []), ...req.messages];
  let out: { response?: string; usage?: { prompt_tokens?: number; completion_tokens?: number } };
  try {
    out = (await ai.run(t.model, {
      messages,
      max_tokens: req.max_tokens,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    })) as typeof out;
  } catch (err) {
    throw new RetryableError(
      "provider_error",
      `workers-ai: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      {
        cause: err,
      },
    );
  }
  // Workers AI is not streamed here: a streaming node gets its answer as one piece.
  if (req.onText && out.response) req.onText(out.response);
  return {
    text: out.response ?? "",
    model: t.model,
    usage: { input_tokens: out.usage?.prompt_tokens ?? 0, output_tokens: out.usage?.completion_tokens ?? 0 },
    reported_cost_usd: null,
    // Workers AI says no finish reason: an answer that used every token it was allowed was cut.
    truncated: (out.usage?.completion_tokens ?? 0) >= req.max_tokens,
  };
}

/** POST to a provider; network failures are retryable, a refused base URL is not. */
async function send(
  url: string,
  t: ResolvedModel,
  req: GuardedRequest,
  auth: Record<string, string>,
  body: unknown,
): Promise<Response> {
  try {
    return await guardedFetch(
      url,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": req.idempotencyKey,
          "x-request-id": req.idempotencyKey,
          "edgeflow-attempt": String(req.attempt),
          ...(req.traceparent ? { traceparent: req.traceparent } : {}),
          ...auth,
        },
        body: JSON.stringify(body),
        signal: req.signal,
      },
      req.allowed,
    );
  } catch (err) {
    if (err instanceof SsrfError)
      throw new FatalError("ssrf_refused", `${t.provider} base URL refused: ${err.message}`, { cause: err });
    if (req.signal.aborted) throw err;
    throw new RetryableError(
      "provider_unreachable",
      `${t.provider}: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      {
        cause: err,
      },
    );
  }
}

/** A provider's answer body, bounded like any response: a runaway or hostile endpoint cannot exhaust memory. */
async function bodyText(t: ResolvedModel, res: Response): Promise<string> {
  const bytes = await readCapped(res.body, MAX_PROVIDER_RESPONSE_BYTES);
  if (!bytes)
    throw new RetryableError(
      "provider_bad_response",
      `${t.provider} answered with more than ${MAX_PROVIDER_RESPONSE_BYTES} bytes`,
    );
  return new TextDecoder().decode(bytes);
}

/** A non-2xx answer as the error it is: 429 and 5xx retryable (Retry-After honoured), other 4xx fatal. */
async function refused(t: ResolvedModel, res: Response): Promise<never> {
  const message = `${t.provider} HTTP ${res.status}: ${providerMessage(await bodyText(t, res))}`;
  if (res.status === 429 || res.status >= 500)
    throw new RetryableError(`provider_${res.status}`, message, retryAfter(res.headers.get("retry-after")));
  throw new FatalError(`provider_${res.status}`, message);
}

async function post(
  url: string,
  t: ResolvedModel,
  req: GuardedRequest,
  auth: Record<string, string>,
  body: unknown,
): Promise<unknown> {
  const res = await send(url, t, req, auth, body);
  if (!res.ok) return refused(t, res);
  const text = await bodyText(t, res);
  try {
    return JSON.parse(text);
  } catch {
    throw new RetryableError("provider_bad_response", `${t.provider} answered with non-JSON: ${text.slice(0, 200)}`);
  }
}

/**
 * POST with `stream: true` and read the server-sent events as they come, handing each `data:` payload (parsed) to
 * `onData`; returns whether the stream said it was done (`[DONE]`, or what `done` recognises) before it ended.
 */
async function postStream(
  url: string,
  t: ResolvedModel,
  req: GuardedRequest,
  auth: Record<string, string>,
  body: unknown,
  onData: (data: Record<string, unknown>) => boolean,
): Promise<boolean> {
  const res = await send(url, t, req, auth, body);
  if (!res.ok) return refused(t, res);
  if (!res.body) throw new RetryableError("provider_bad_response", `${t.provider} sent an empty stream`);
  const decoder = new TextDecoder();
  let buffer = "";
  let bytes = 0;
  let finished = false;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > MAX_PROVIDER_RESPONSE_BYTES)
        throw new RetryableError(
          "provider_bad_response",
          `${t.provider} streamed more than ${MAX_PROVIDER_RESPONSE_BYTES} bytes`,
        );
      buffer += decoder.decode(chunk, { stream: true });
      for (let cut = buffer.indexOf("\n"); cut >= 0; cut = buffer.indexOf("\n")) {
        const line = buffer.slice(0, cut).trim();
        buffer = buffer.slice(cut + 1);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") finished = true;
        else if (data) finished = onData(JSON.parse(data) as Record<string, unknown>) || finished;
      }
    }
  } catch (err) {
    if (err instanceof RetryableError || req.signal.aborted) throw err;
    throw new RetryableError("provider_stream_cut", `${t.provider}: the stream broke off: ${String(err)}`, undefined, {
      cause: err,
    });
  }
  return finished;
}

function providerMessage(text: string): string {
  try {
    const d = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    if (typeof d.error === "string") return d.error;
    return d.error?.message ?? d.message ?? text.slice(0, 500);
  } catch {
    return text.slice(0, 500);
  }
}

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
  return {
    text: out.response ?? "",
    model: t.model,
    usage: { input_tokens: out.usage?.prompt_tokens ?? 0, output_tokens: out.usage?.completion_tokens ?? 0 },
    reported_cost_usd: null,
    // Workers AI says no finish reason: an answer that used every token it was allowed was cut.
    truncated: (out.usage?.completion_tokens ?? 0) >= req.max_tokens,
  };
}

async function post(
  url: string,
  t: ResolvedModel,
  req: GuardedRequest,
  auth: Record<string, string>,
  body: unknown,
): Promise<unknown> {
  let res: Response;
  try {
    res = await guardedFetch(
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
    );
  }
  // A provider answer is bounded like any response body: a runaway or hostile endpoint cannot exhaust memory.
  const bytes = await readCapped(res.body, MAX_PROVIDER_RESPONSE_BYTES);
  if (!bytes)
    throw new RetryableError(
      "provider_bad_response",
      `${t.provider} answered with more than ${MAX_PROVIDER_RESPONSE_BYTES} bytes`,
    );
  const text = new TextDecoder().decode(bytes);
  if (res.ok) {
    try {
      return JSON.parse(text);
    } catch {
      throw new RetryableError("provider_bad_response", `${t.provider} answered with non-JSON: ${text.slice(0, 200)}`);
    }
  }
  const message = `${t.provider} HTTP ${res.status}: ${providerMessage(text)}`;
  if (res.status === 429 || res.status >= 500)
    throw new RetryableError(`provider_${res.status}`, message, retryAfter(res.headers.get("retry-after")));
  throw new FatalError(`provider_${res.status}`, message);
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

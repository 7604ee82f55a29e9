// One call to a model through the AI SDK, streamed from the provider whether or not anyone watches (no proxy idle
// timeout can cut a long answer), with the provider's failures as the engine's RetryableError / FatalError.
import { APICallError, jsonSchema, streamText, type ModelMessage, type OutputInterface, type ToolSet } from "ai";
import { retryAfter } from "../http";
import { FatalError, RetryableError } from "../types";
import type { ResolvedModel } from "./config";
import { languageModel } from "./sdk-models";

/** A tool the model may call; its calls come back as data, never executed here. */
export interface ToolSpec {
  name: string;
  description?: string | undefined;
  input_schema: Record<string, unknown>;
}

export interface LlmRequest {
  traceparent?: string | undefined;
  system?: string | undefined;
  /** Plain turns, or the AI SDK's messages with tool calls and their results (an agent's loop). */
  messages: ModelMessage[];
  max_tokens: number;
  temperature?: number | undefined;
  /** A JSON answer: the provider's native structured output where it has one (with `schema`), else JSON mode. */
  json: boolean;
  schema?: Record<string, unknown> | undefined;
  tools?: ToolSpec[] | undefined;
  idempotencyKey: string;
  attempt: number;
  signal: AbortSignal;
  /** Each piece of text as it arrives. */
  onText?: ((text: string) => void) | undefined;
}

export interface ToolCall {
  id: string;
  name: string;
  input: unknown;
}

export interface LlmResponse {
  text: string;
  model: string;
  usage: { input_tokens: number; output_tokens: number };
  /** The cost the provider reported (OpenRouter does), in USD. */
  reported_cost_usd: number | null;
  /** The answer was cut by the token limit (finish reason "length"). */
  truncated: boolean;
  /** What the provider or the SDK changed or dropped in the request (e.g. temperature for a reasoning model). */
  warnings: string[];
  tool_calls: ToolCall[];
}

export async function callModel(env: Env, target: ResolvedModel, req: LlmRequest): Promise<LlmResponse> {
  const headers: Record<string, string> = {
    "idempotency-key": req.idempotencyKey,
    "x-request-id": req.idempotencyKey,
    "edgeflow-attempt": String(req.attempt),
    ...(req.traceparent ? { traceparent: req.traceparent } : {}),
  };
  const out: LlmResponse = {
    text: "",
    model: target.model,
    usage: { input_tokens: 0, output_tokens: 0 },
    reported_cost_usd: null,
    truncated: false,
    warnings: [],
    tool_calls: [],
  };
  let finish: { reason: string; raw: string | undefined } | null = null;
  const strict = req.schema ? strictCompatible(req.schema) : false;
  try {
    const result = streamText({
      model: languageModel(env, target, headers, strict),
      ...(req.system ? { system: req.system } : {}),
      messages: req.messages,
      allowSystemInMessages: true,
      maxOutputTokens: req.max_tokens,
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
      // Retries, backoff and fallback are the engine's: the SDK makes exactly one request.
      maxRetries: 0,
      // The AI binding is an RPC stub, which cannot carry an AbortSignal; the engine's attempt timeout still holds.
      ...(target.sdk === "workers-ai" ? {} : { abortSignal: req.signal }),
      // Errors are read from the stream below; the SDK's default handler would also print them.
      onError: () => {},
      ...(req.json ? { output: jsonOutput(req.schema) } : {}),
      ...(req.tools?.length ? { tools: toolSet(req.tools) } : {}),
      // OpenAI's provider reads its options under "openai"; OpenAI-compatible servers under their own name.
      providerOptions: { openai: { strictJsonSchema: strict }, [target.provider]: { strictJsonSchema: strict } },
    });
    for await (const part of result.fullStream) {
      switch (part.type) {
        case "text-delta":
          out.text += part.text;
          req.onText?.(part.text);
          break;
        case "start-step":
          out.warnings.push(...part.warnings.map(describeWarning));
          break;
        case "tool-call":
          out.tool_calls.push({ id: part.toolCallId, name: part.toolName, input: part.input });
          break;
        case "finish-step":
          out.model = part.response.modelId || out.model;
          out.reported_cost_usd = reportedCost(part.providerMetadata) ?? out.reported_cost_usd;
          break;
        case "finish":
          finish = { reason: part.finishReason, raw: part.rawFinishReason };
          out.usage = {
            input_tokens: part.totalUsage.inputTokens ?? 0,
            output_tokens: part.totalUsage.outputTokens ?? 0,
          };
          break;
        case "error":
          throw part.error;
        case "abort":
          throw req.signal.reason ?? new DOMException("aborted", "AbortError");
      }
    }
  } catch (err) {
    throw asEngineError(target, err, req.signal);
  }
  if (!finish || cutShort(finish, target))
    throw new RetryableError("provider_stream_cut", `${describe(target)} ended the stream before the answer did`);
  out.truncated = finish.reason === "length";
  return out;
}

const describe = (t: ResolvedModel) => `${t.provider}:${t.model}`;

/**
 * A stream that ended before the provider said why: "interrupted" where the SDK provider reports it, else no raw
 * finish reason at all (Workers AI gives none for a whole answer either, so it is not judged this way).
 */
function cutShort(finish: { reason: string; raw: string | undefined }, t: ResolvedModel): boolean {
  if (finish.reason === "interrupted") return true;
  return (
    t.sdk !== "workers-ai" && finish.raw === undefined && (finish.reason === "other" || finish.reason === "unknown")
  );
}

/** JSON output: the provider's response format (native structured output with a schema); the text is parsed by the node. */
function jsonOutput(schema: Record<string, unknown> | undefined): OutputInterface<string, string, never> {
  return {
    name: "json",
    responseFormat: Promise.resolve(schema ? { type: "json", schema, name: "response" } : { type: "json" }),
    parseCompleteOutput: async ({ text }: { text: string }) => text,
    parsePartialOutput: async () => undefined,
    createElementStreamTransform: () => undefined,
  } as OutputInterface<string, string, never>;
}

function toolSet(tools: ToolSpec[]): ToolSet {
  // No execute: the model's calls come back as data for the caller to run durably.
  return Object.fromEntries(
    tools.map((t) => [
      t.name,
      { ...(t.description ? { description: t.description } : {}), inputSchema: jsonSchema(t.input_schema) },
    ]),
  ) as ToolSet;
}

/** OpenAI's strict mode takes only schemas whose every object lists all its properties as required and allows no others. */
export function strictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(strictCompatible);
  if (!schema || typeof schema !== "object") return true;
  const s = schema as Record<string, unknown>;
  if (s.properties && typeof s.properties === "object") {
    const names = Object.keys(s.properties);
    const required = Array.isArray(s.required) ? (s.required as string[]) : [];
    if (s.additionalProperties !== false || names.some((n) => !required.includes(n))) return false;
  }
  return Object.entries(s).every(([k, v]) => k === "required" || k === "enum" || k === "const" || strictCompatible(v));
}

function describeWarning(w: unknown): string {
  const x = w as { type?: string; feature?: string; details?: string; message?: string };
  return [x.feature, x.details ?? x.message].filter(Boolean).join(": ") || String(x.type ?? "warning");
}

function reportedCost(meta: unknown): number | null {
  const cost = (meta as { openrouter?: { usage?: { cost?: unknown } } } | undefined)?.openrouter?.usage?.cost;
  return typeof cost === "number" ? cost : null;
}

/** The provider's own message from an error body (OpenAI, Anthropic, Gemini and Bedrock shapes). */
export function providerMessage(body: string | undefined): string | null {
  if (!body) return null;
  try {
    const d = JSON.parse(body) as { error?: { message?: string } | string; message?: string; Message?: string };
    if (typeof d.error === "string") return d.error;
    return d.error?.message ?? d.message ?? d.Message ?? body.slice(0, 500);
  } catch {
    return body.slice(0, 500);
  }
}

/** A failure as the engine's error: 408, 409, 429 and 5xx retryable (Retry-After honoured), other 4xx fatal. */
function asEngineError(t: ResolvedModel, err: unknown, signal: AbortSignal): unknown {
  if (err instanceof RetryableError || err instanceof FatalError) return err;
  if (signal.aborted) return err;
  if (APICallError.isInstance(err)) {
    const cause = err.cause;
    if (cause instanceof RetryableError || cause instanceof FatalError) return cause;
    const status = err.statusCode;
    const said = providerMessage(err.responseBody) ?? err.message;
    if (status === undefined)
      return new RetryableError("provider_unreachable", `${describe(t)}: ${said}`, undefined, { cause: err });
    const message = `${describe(t)} HTTP ${status}: ${said}`;
    if (status === 408 || status === 409 || status === 429 || status >= 500)
      return new RetryableError(
        `provider_${status}`,
        message,
        retryAfter(err.responseHeaders?.["retry-after"] ?? null),
      );
    return new FatalError(`provider_${status}`, message, { cause: err });
  }
  const name = err instanceof Error ? err.name : "";
  const text = err instanceof Error ? err.message : String(err);
  if (name.includes("UnsupportedFunctionality"))
    return new FatalError("provider_unsupported", `${describe(t)}: ${text}`, { cause: err });
  return new RetryableError("provider_bad_response", `${describe(t)}: ${text}`, undefined, { cause: err });
}

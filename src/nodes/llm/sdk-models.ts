// An AI SDK language model for a resolved target. Every provider gets the engine's fetch (SSRF guard, size cap,
// network errors as retryable values) and the per-call headers; retries stay with the engine (maxRetries: 0).
// The packages are imported statically: a dynamic import() is a promise that concurrent requests would share, and
// a Worker may not let one request wait on another's (see scripts/check-bundle.mjs for the start-up cost).
import { createAmazonBedrock } from "@ai-sdk/amazon-bedrock";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import type { LanguageModel } from "ai";
import { createWorkersAI } from "workers-ai-provider";
import { allowedHosts, guardedFetch, SsrfError } from "../../lib/ssrf";
import { FatalError, RetryableError } from "../types";
import type { ResolvedModel } from "./config";

const MAX_PROVIDER_RESPONSE_BYTES = 8 * 1024 * 1024;

/** Headers sent with every call of one node attempt. */
export type CallHeaders = Record<string, string>;

/**
 * `strictJson`: the node's json_schema can take OpenAI-style strict constrained decoding (every object closed, every
 * property required); otherwise the schema is sent without strict, which the OpenAI family refuses for open schemas.
 */
export function languageModel(env: Env, t: ResolvedModel, headers: CallHeaders, strictJson: boolean): LanguageModel {
  const fetch = providerFetch(env, t);
  const common = { fetch, headers };
  switch (t.sdk) {
    case "openai": {
      // Chat Completions: what every OpenAI-compatible server also speaks; the SDK keeps each model family's
      // parameters (max_completion_tokens and no sampling parameters for reasoning models).
      return createOpenAI({ ...common, baseURL: t.baseUrl, apiKey: t.apiKey ?? "" }).chat(t.model);
    }
    case "anthropic": {
      return createAnthropic({ ...common, baseURL: `${t.baseUrl}/v1`, apiKey: t.apiKey ?? "" })(t.model);
    }
    case "google": {
      return createGoogleGenerativeAI({ ...common, baseURL: t.baseUrl, apiKey: t.apiKey ?? "" })(t.model);
    }
    case "bedrock": {
      return createAmazonBedrock({
        ...common,
        baseURL: t.baseUrl,
        region: t.aws?.region ?? regionOf(t.baseUrl),
        ...(t.aws
          ? {
              accessKeyId: t.aws.accessKeyId,
              secretAccessKey: t.aws.secretAccessKey,
              ...(t.aws.sessionToken ? { sessionToken: t.aws.sessionToken } : {}),
            }
          : { apiKey: t.apiKey ?? "" }),
      })(t.model);
    }
    case "openrouter": {
      return createOpenRouter({ ...common, baseURL: t.baseUrl, apiKey: t.apiKey ?? "", compatibility: "strict" })(
        t.model,
        // OpenRouter reports each call's cost when asked (usage accounting).
        { usage: { include: true }, structuredOutputs: { strict: strictJson } },
      );
    }
    case "openai-compatible": {
      return createOpenAICompatible({
        ...common,
        name: t.provider,
        baseURL: t.baseUrl,
        ...(t.apiKey ? { apiKey: t.apiKey } : {}),
        includeUsage: true,
      })(t.model);
    }
    case "workers-ai": {
      const binding = (env as unknown as { AI?: Ai }).AI;
      if (!binding)
        throw new FatalError(
          "provider_not_configured",
          'provider "workers-ai" needs the AI binding: add [ai] binding = "AI" to wrangler.toml',
        );
      return createWorkersAI({ binding })(t.model as Parameters<ReturnType<typeof createWorkersAI>>[0]);
    }
  }
}

const regionOf = (baseUrl: string) => /bedrock-runtime\.([a-z0-9-]+)\./.exec(baseUrl)?.[1] ?? "us-east-1";

/**
 * The fetch every provider uses: the SSRF guard on each hop, a size cap on the answer, and failures as the engine's
 * errors (a refused URL is fatal; a network failure retryable), which the SDK passes through unchanged.
 */
function providerFetch(env: Env, t: ResolvedModel): typeof fetch {
  const allowed = allowedHosts(env);
  return async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.toString() : input.url;
    let res: Response;
    try {
      res = await guardedFetch(url, init ?? {}, allowed);
    } catch (err) {
      if (err instanceof SsrfError)
        throw new FatalError("ssrf_refused", `${t.provider} base URL refused: ${err.message}`, { cause: err });
      if (init?.signal?.aborted) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new RetryableError("provider_unreachable", `${t.provider}: ${message}`, undefined, { cause: err });
    }
    if (!res.body) return res;
    return new Response(res.body.pipeThrough(capped(t)), {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

/** A runaway or hostile endpoint cannot exhaust memory: past the cap the body errors. */
function capped(t: ResolvedModel): TransformStream<Uint8Array, Uint8Array> {
  let bytes = 0;
  return new TransformStream({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      if (bytes > MAX_PROVIDER_RESPONSE_BYTES)
        controller.error(
          new RetryableError(
            "provider_bad_response",
            `${t.provider} answered with more than ${MAX_PROVIDER_RESPONSE_BYTES} bytes`,
          ),
        );
      else controller.enqueue(chunk);
    },
  });
}

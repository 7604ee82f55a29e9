import { z } from "zod";
import { allowedHosts, guardedFetch, SsrfError } from "../lib/ssrf";
import { readCapped } from "../lib/stream";
import { CONNECTION_NAME } from "../engine/connection";
import { throughBreaker } from "./breaker-call";
import { FatalError, RetryableError, type NodeExecutor, type RunContext, type RunResult } from "./types";

const status = z.number().int().min(100).max(599);

const config = z
  .object({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]).default("GET"),
    url: z.string().min(1).max(8192),
    headers: z.record(z.string().min(1).max(256), z.string().max(8192)).default({}),
    query: z.record(z.string().min(1).max(256), z.string().max(8192)).optional(),
    body: z.unknown().optional(),
    expect_status: z.array(status).min(1).max(100).optional(),
    retry_on_status: z.array(status).max(100).default([]),
    response: z.enum(["auto", "json", "text"]).default("auto"),
    /**
     * An OAuth2 connection (PUT /v1/connections/:name) whose bearer token goes in Authorization. A 401 gets a fresh
     * token and one more try, for requests safe to repeat (GET/HEAD, or with an Idempotency-Key, which this node
     * always sends).
     */
    connection: z
      .string()
      .max(1024)
      .refine(
        (v) => v.includes("{{") || CONNECTION_NAME.test(v),
        `must match ${CONNECTION_NAME.source} or be a {{ template }}`,
      )
      .optional(),
    max_response_bytes: z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    /**
     * Fail fast while the host is failing: after `failure_threshold` retryable failures in a row (network, 5xx, 429,
     * timeouts) of the tenant's calls to this host, from every execution, calls fail at once with circuit_open for
     * `cooldown_ms`, then one probe decides. Off unless set: it costs a Durable Object call per request.
     */
    circuit_breaker: z
      .object({
        failure_threshold: z.number().int().min(1).max(100).default(5),
        cooldown_ms: z.number().int().min(100).max(3_600_000).default(30_000),
      })
      .strict()
      .optional(),
  })
  .strict();
type HttpConfig = z.output<typeof config>;

/**
 * Calls an HTTP endpoint; 5xx, 429 and network errors are retryable, other 4xx fatal unless listed in retry_on_status.
 */
export const http: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 30_000,
  async run(ctx) {
    const { config, services } = ctx;
    const cfg = config.circuit_breaker;
    if (!cfg) return call(ctx);
    const host = targetUrl(config).host;
    return throughBreaker(
      services.breaker(`http:${services.tenantId}:${host}`),
      cfg,
      (ms) => `${host} is failing; its circuit is open for ${ms} ms more (no request was sent)`,
      () => call(ctx),
      // Only what says the host is unwell counts (a 404 is an answer); a host that let the attempt time out is
      // unwell, a run cancelled meanwhile says nothing either way.
      (err) => {
        const timedOut = (ctx.signal.reason as { name?: string } | undefined)?.name === "TimeoutError";
        if (err instanceof RetryableError || (ctx.signal.aborted && timedOut)) return false;
        return err instanceof FatalError ? true : null;
      },
    );
  },
};

/** One request as the node's config says, its answer or its failure as the engine's errors. */
async function call({ config, signal, idempotencyKey, attempt, services }: RunContext<HttpConfig>): Promise<RunResult> {
  const url = targetUrl(config);
  const headers = new Headers(config.headers);
  if (!headers.has("idempotency-key")) headers.set("idempotency-key", idempotencyKey);
  headers.set("edgeflow-attempt", String(attempt));
  if (!headers.has("traceparent")) headers.set("traceparent", services.traceparent());
  let body: string | undefined;
  if (config.body !== undefined && config.method !== "GET" && config.method !== "HEAD") {
    body = typeof config.body === "string" ? config.body : JSON.stringify(config.body);
    if (typeof config.body !== "string" && !headers.has("content-type"))
      headers.set("content-type", "application/json");
  }
  const send = async (): Promise<Response> => {
    try {
      return await guardedFetch(
        url.toString(),
        { method: config.method, headers, body, signal },
        allowedHosts(services.env),
      );
    } catch (err) {
      if (err instanceof SsrfError) throw new FatalError("ssrf_refused", err.message, { cause: err });
      if (signal.aborted) throw err;
      throw new RetryableError(
        "network_error",
        `${config.method} ${url.origin}${url.pathname}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };
  let token = config.connection ? await bearer(services, config.connection, null) : null;
  if (token) headers.set("authorization", `Bearer ${token}`);
  let res = await send();
  const safeToRepeat = config.method === "GET" || config.method === "HEAD" || headers.has("idempotency-key");
  if (res.status === 401 && token && config.connection && safeToRepeat) {
    // The token expired or was revoked early: one fresh token (shared by every caller that saw this one refused).
    await res.body?.cancel();
    token = await bearer(services, config.connection, token);
    headers.set("authorization", `Bearer ${token}`);
    res = await send();
  }
  const bytes = await readCapped(res.body, config.max_response_bytes);
  if (!bytes) throw new FatalError("response_too_large", `response body exceeds ${config.max_response_bytes} bytes`);
  const text = new TextDecoder().decode(bytes);
  const expected = config.expect_status
    ? config.expect_status.includes(res.status)
    : res.status >= 200 && res.status < 300;
  if (!expected) throw statusError(res, text, config);
  return {
    ok: true,
    output: {
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: decode(text, res, config.response),
    },
  };
}

async function bearer(services: RunContext<HttpConfig>["services"], name: string, rejected: string | null) {
  const got = await services.connectionToken(name, rejected);
  if (got.ok) return got.access_token;
  if (got.retryable) throw new RetryableError(got.code, got.message);
  throw new FatalError(got.code, got.message);
}

function targetUrl(config: HttpConfig): URL {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new FatalError("invalid_url", `"${config.url}" is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new FatalError("invalid_url", `scheme ${url.protocol} is not allowed`);
  for (const [k, v] of Object.entries(config.query ?? {})) url.searchParams.set(k, v);
  return url;
}

function statusError(res: Response, text: string, config: HttpConfig): Error {
  const message = `HTTP ${res.status}: ${text.slice(0, 500)}`;
  const code = `http_${res.status}`;
  if (res.status >= 500 || res.status === 429 || config.retry_on_status.includes(res.status)) {
    return new RetryableError(code, message, retryAfter(res.headers.get("retry-after")));
  }
  return new FatalError(code, message);
}

/** Retry-After as delta-seconds or an HTTP date; capped at one hour so a hostile server cannot park a node forever. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, 3_600_000);
}

function decode(text: string, res: Response, mode: HttpConfig["response"]): unknown {
  const isJson = mode === "json" || (mode === "auto" && /[/+]json\b/.test(res.headers.get("content-type") ?? ""));
  if (!isJson) return text;
  try {
    return text === "" ? null : JSON.parse(text);
  } catch {
    throw new FatalError("invalid_json", `response is not JSON: ${text.slice(0, 200)}`);
  }
}

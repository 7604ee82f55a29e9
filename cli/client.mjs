// The API over fetch: problem+json refusals become ApiError (title, code, detail, paths), an unreachable server
// becomes NetworkError; the SSE stream is read with the key in the Authorization header and resumed after a drop.
import { randomUUID } from "node:crypto";

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(`${problem.title ?? `HTTP ${status}`}: ${problem.detail ?? ""}`);
    /** Seconds the server asked to wait before trying again (Retry-After), or null. */
    this.retryAfter = retryAfter;
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code ?? `http_${status}`;
    this.title = problem.title ?? `HTTP ${status}`;
    this.detail = problem.detail ?? "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

export class NetworkError extends Error {
  constructor(url, cause) {
    super(`cannot reach ${url}: ${cause?.cause?.code ?? cause?.message ?? cause}`);
    this.name = "NetworkError";
    /** The connection was made and then lost: the request may have been done, only its answer is missing. */
    this.answerLost = ["ECONNRESET", "UND_ERR_SOCKET", "EPIPE"].includes(cause?.cause?.code);
  }
}

/** How often a keyed POST is sent in all, and the pause before each resend when the server names none. */
const SENDS = 4;
const PAUSE_S = [0.5, 1, 2];

/** Seconds a refusal's Retry-After asks for, or null. */
function retryAfterOf(res) {
  const wait = Number(res.headers.get("retry-after") ?? "");
  return res.headers.has("retry-after") && Number.isFinite(wait) && wait >= 0 ? wait : null;
}

/** The longest Retry-After of a 429 a command waits out by itself; over it, the 429 is reported. */
const MAX_WAIT_S = 60;

/** Refused for the key's rate limit with a wait the command can sit out: nothing was done, so sending again is safe. */
const waitable = (err) =>
  err instanceof ApiError && err.status === 429 && err.retryAfter !== null && err.retryAfter <= MAX_WAIT_S;

/** Worth sending again under the same key: the answer was lost, or the server asks to retry (in flight, restarting). */
const resendable = (err) =>
  waitable(err) ||
  (err instanceof NetworkError && err.answerLost) ||
  (err instanceof ApiError && (err.code === "idempotency_key_in_flight" || err.status === 503));

/** `send(n)`, sent again while `retry(err)` and sends remain, after the server's Retry-After or our own pause. */
async function persist(send, retry, because) {
  for (let n = 1; ; n++) {
    try {
      return await send(n);
    } catch (err) {
      if (n >= SENDS || !retry(err)) throw err;
      const pause = err.retryAfter ?? PAUSE_S[n - 1];
      const why = err instanceof ApiError ? `the API answered ${err.status} ${err.code}` : "the answer was lost";
      process.stderr.write(`edgeflow: ${why}; sending again in ${pause} s${because}\n`);
      await new Promise((r) => setTimeout(r, pause * 1000));
    }
  }
}

export function client({ url, key }) {
  const base = url.replace(/\/+$/, "");
  /** The answer's JSON and headers; a refusal throws ApiError. */
  const exchange = async (method, path, body, headers = {}) => {
    let res;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new NetworkError(base, err);
    }
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { title: `HTTP ${res.status}`, detail: text.slice(0, 200) };
    }
    if (!res.ok) throw new ApiError(res.status, json ?? {}, retryAfterOf(res));
    return { json, headers: res.headers };
  };
  const sendOnce = (method, path, body, key = `cli-${randomUUID()}`, headers = {}) =>
    persist(
      async (send) => {
        const r = await exchange(method, path, body, { ...headers, "idempotency-key": key });
        return { ...r.json, replayed: send === 1 && r.headers.get("idempotent-replayed") === "true" };
      },
      resendable,
      " under the same Idempotency-Key",
    );
  // A 429 is waited out: the request was refused before anything was done.
  const call = (method, path, body, headers) =>
    persist(async () => (await exchange(method, path, body, headers)).json, waitable, "");
  return {
    base,
    get: (path) => call("GET", path),
    post: (path, body = {}, headers) => call("POST", path, body, headers),
    /** A POST sent once: a 429 is the caller's to wait out (run --batch redraws its progress bar around the wait). */
    postNow: async (path, body = {}) => (await exchange("POST", path, body)).json,
    /**
     * A POST under an Idempotency-Key (the caller's, else one made for this call), sent again when its answer is
     * lost or the server asks for a retry, so a dropped connection never does it twice. Its JSON, and `replayed`:
     * an earlier command already did it (a replay of this call's own first send is not that).
     */
    postOnce: (path, body, key, headers) => sendOnce("POST", path, body, key, headers),
    /** A PUT as postOnce sends a POST (a publish whose answer was lost is its version, not a second one). */
    putOnce: (path, body, key) => sendOnce("PUT", path, body, key),
    /** Every event after `after`, as they happen, until the server ends the stream (the execution finished). */
    async *events(executionId, after = 0) {
      let last = after;
      for (let failures = 0; ;) {
        let res;
        try {
          res = await fetch(`${base}/v1/executions/${encodeURIComponent(executionId)}/stream`, {
            headers: { authorization: `Bearer ${key}`, accept: "text/event-stream", "last-event-id": String(last) },
          });
        } catch (err) {
          if (++failures > 5) throw new NetworkError(base, err);
          await new Promise((r) => setTimeout(r, 500 * failures));
          continue;
        }
        if (!res.ok) {
          // Refused (the key's rate, the stream's subscriber limit) or the server is restarting: wait as told.
          const err = new ApiError(res.status, await res.json().catch(() => ({})), retryAfterOf(res));
          if (!(waitable(err) || res.status === 503) || ++failures > 5) throw err;
          const pause = err.retryAfter ?? 1;
          process.stderr.write(
            `edgeflow: the stream answered ${err.status} ${err.code}; opening it again in ${pause} s\n`,
          );
          await new Promise((r) => setTimeout(r, pause * 1000));
          continue;
        }
        let buffer = "";
        let ended = false;
        try {
          const decoder = new TextDecoder();
          for await (const chunk of res.body) {
            buffer += decoder.decode(chunk, { stream: true });
            let cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              const frame = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              const data = frame
                .split("\n")
                .filter((l) => l.startsWith("data:"))
                .map((l) => l.slice(5).trimStart())
                .join("\n");
              if (!data) continue;
              const event = JSON.parse(data);
              if (typeof event.seq === "number") {
                if (event.seq <= last) continue;
                last = event.seq;
              }
              yield event;
            }
          }
          ended = true;
        } catch {
          // A dropped connection: resume from the last seq seen.
        }
        if (ended) return;
        if (++failures > 5) throw new NetworkError(base, "the event stream kept dropping");
        await new Promise((r) => setTimeout(r, 500 * failures));
      }
    },
  };
}

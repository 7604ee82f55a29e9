// The API over fetch: problem+json refusals become ApiError (title, code, detail, paths), an unreachable server
// becomes NetworkError; the SSE stream is read with the key in the Authorization header and resumed after a drop.

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
    if (!res.ok) {
      const wait = Number(res.headers.get("retry-after"));
      throw new ApiError(res.status, json ?? {}, Number.isFinite(wait) && wait >= 0 ? wait : null);
    }
    return { json, headers: res.headers };
  };
  const call = async (method, path, body, headers) => (await exchange(method, path, body, headers)).json;
  return {
    base,
    get: (path) => call("GET", path),
    post: (path, body = {}, headers) => call("POST", path, body, headers),
    /** A POST with an Idempotency-Key: its JSON, and whether it replays an earlier request's answer. */
    async postOnce(path, body, key) {
      const r = await exchange("POST", path, body, key === undefined ? {} : { "idempotency-key": key });
      return { ...r.json, replayed: r.headers.get("idempotent-replayed") === "true" };
    },
    put: (path, body) => call("PUT", path, body),
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
        if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
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

// npm run smoke -- <base-url> <api-key> [--http-url URL] [--timeout-s N]
// Checks a deployment end to end: /health (cron age included), every configured LLM tier answering a tiny prompt
// (POST /v1/models/test: a wrong key or a model the provider refuses fails here, naming the tier), a throwaway
// workflow with http, sleep and wait_for_event nodes run once and watched over SSE and WebSocket, then everything
// it made is deleted.
// Prints one line; exit code 0 when every step passed, 1 when one failed, 2 for a usage error.
import { parseArgs } from "node:util";

const USAGE = "usage: npm run smoke -- <base-url> <api-key> [--http-url URL] [--timeout-s N]";
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { "http-url": { type: "string" }, "timeout-s": { type: "string", default: "60" } },
  });
} catch (err) {
  fail(2, `${err.message}\n${USAGE}`);
}
const [baseArg, key, ...extra] = parsed.positionals;
if (!baseArg || !key || extra.length) fail(2, USAGE);
const base = baseArg.replace(/\/+$/, "");
// The http node calls the deployment's own /health unless told otherwise (a Worker on workers.dev may not be
// allowed to call itself: then point --http-url at any public URL that answers 200).
const httpUrl = parsed.values["http-url"] ?? `${base}/health`;
const timeoutMs = Number(parsed.values["timeout-s"]) * 1000;
const started = Date.now();
const made = { workflow: null, execution: null };
let step = "health";

try {
  const health = await call("GET", "/health");
  const cron = health.checks?.cron;
  if (!cron?.ok) throw new Error(`cron is not healthy: ${JSON.stringify(cron)}`);

  step = "models";
  const tested = (await call("POST", "/v1/models/test")).data;
  const broken = tested.filter((t) => t.configured && !t.ok);
  if (broken.length) throw new Error(broken.map((t) => `${t.tier} (${t.provider}:${t.model}): ${t.error}`).join("; "));
  const configured = tested.filter((t) => t.configured);
  const models = configured.length
    ? configured.map((t) => `${t.tier} ${t.provider}:${t.model} ok`).join(", ")
    : "no LLM tier configured";

  step = "create workflow";
  const wf = await call("POST", "/v1/workflows", {
    name: `smoke-${new Date().toISOString()}`,
    retention_days: 1,
    nodes: [
      { id: "ping", kind: "http", config: { url: httpUrl }, retry: { max_attempts: 3, initial_delay_ms: 500 } },
      { id: "nap", kind: "sleep", needs: ["ping"], config: { duration_ms: 1000 } },
      { id: "gate", kind: "wait_for_event", needs: ["nap"], config: { event: "smoke.go", timeout_ms: timeoutMs } },
      {
        id: "done",
        kind: "transform",
        needs: ["gate"],
        config: { expression: "{'status': nodes.ping.output.status, 'said': nodes.gate.output.payload.word}" },
      },
    ],
  });
  made.workflow = wf.id;

  step = "start execution";
  const ex = await call(
    "POST",
    `/v1/workflows/${wf.id}/executions`,
    { input: {} },
    { "idempotency-key": `smoke-${crypto.randomUUID()}` },
  );
  made.execution = ex.id;

  step = "watch streams";
  const sse = watchSse(ex.id);
  const ticket = await call("POST", "/v1/stream-tickets", { execution_id: ex.id });
  const ws = watchSocket(ex.id, ticket.ticket);
  await sse.until((e) => e.type === "node.waiting" && e.node_id === "gate", "the gate to wait (SSE)");
  step = "send event";
  await call("POST", `/v1/executions/${ex.id}/events`, { name: "smoke.go", payload: { word: "hello" } });
  step = "finish";
  const [sseEvents, wsEvents] = await Promise.all([
    sse.until(isTerminal, "the end (SSE)"),
    ws.until(isTerminal, "the end (WebSocket)"),
  ]);
  for (const [name, events] of [
    ["SSE", sseEvents],
    ["WebSocket", wsEvents],
  ]) {
    const last = events.at(-1);
    if (last.type !== "execution.succeeded")
      throw new Error(`${name} ended with ${last.type}: ${JSON.stringify(last.data)}`);
    events.forEach((e, i) => {
      if (e.seq !== i + 1) throw new Error(`${name} events are not gap-free: seq ${e.seq} at position ${i + 1}`);
    });
  }
  const view = await call("GET", `/v1/executions/${ex.id}`);
  if (view.status !== "succeeded" || view.output?.done?.said !== "hello")
    throw new Error(`unexpected result: ${JSON.stringify(view.output)}`);

  step = "clean up";
  await cleanUp();
  console.log(
    `smoke ok: ${base} healthy (cron tick ${cron.age_s ?? "pending"} s ago); models: ${models}; ${ex.id} succeeded; SSE ${sseEvents.length} and WebSocket ${wsEvents.length} events, gap-free; cleaned up (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  process.exit(0);
} catch (err) {
  await cleanUp().catch(() => undefined);
  fail(1, `smoke FAILED at ${step}: ${err.message}`);
}

function isTerminal(e) {
  return /^execution\.(succeeded|failed|cancelled|timed_out)$/.test(e.type);
}

async function cleanUp() {
  if (made.execution) await call("DELETE", `/v1/executions/${made.execution}`, undefined, {}, [204, 404]);
  if (made.workflow) await call("DELETE", `/v1/workflows/${made.workflow}`, undefined, {}, [204, 404]);
  made.execution = made.workflow = null;
}

/** One API call; a problem+json answer becomes an error naming its code, title and detail. */
async function call(method, path, body, headers = {}, ok = null) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const parsedBody = text ? JSON.parse(text) : null;
  if (ok ? !ok.includes(res.status) : !res.ok) {
    throw new Error(
      `${method} ${path} answered ${res.status}${parsedBody?.code ? ` ${parsedBody.code}: ${parsedBody.detail ?? parsedBody.title}` : ""}`,
    );
  }
  return parsedBody;
}

/** Collects an event stream's envelopes; `until(pred)` resolves with all of them once one matches. */
function collector(name) {
  const events = [];
  let waiting = [];
  let broken = null;
  const settle = () => {
    waiting = waiting.filter((w) => {
      if (broken) w.reject(broken);
      else if (events.some(w.pred)) w.resolve(events);
      else return true;
      return false;
    });
  };
  return {
    push(e) {
      events.push(e);
      settle();
    },
    fail(err) {
      broken ??= new Error(`${name}: ${err.message ?? err}`);
      settle();
    },
    until(pred, what) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)),
          timeoutMs,
        );
        waiting.push({
          pred,
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        settle();
      });
    },
  };
}

/** SSE as EventSource reads it, resuming after the last seq when the connection drops before the run ends. */
function watchSse(id) {
  const c = collector("SSE");
  let last = 0;
  let ended = false;
  const once = async () => {
    const res = await fetch(`${base}/v1/executions/${id}/stream?after=${last}`, {
      headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" },
    });
    if (!res.ok) throw new Error(`stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let cut; (cut = buffer.indexOf("\n\n")) >= 0; buffer = buffer.slice(cut + 2)) {
        const data = buffer
          .slice(0, cut)
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim());
        if (!data.length) continue;
        const event = JSON.parse(data.join("\n"));
        last = event.seq;
        ended ||= isTerminal(event);
        c.push(event);
      }
    }
  };
  (async () => {
    for (let tries = 1; !ended; tries++) {
      const dropped = await once().then(
        () => new Error("the stream ended before the run did"),
        (err) => err,
      );
      if (!ended && tries >= 3) throw dropped;
    }
  })().catch((err) => c.fail(err));
  return c;
}

function watchSocket(id, ticket) {
  const c = collector("WebSocket");
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/v1/executions/${id}/stream?ticket=${ticket}&after=0`);
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (typeof msg.seq === "number") c.push(msg);
  };
  ws.onerror = () => c.fail(new Error("socket error"));
  ws.onclose = (e) => {
    if (e.code !== 1000) c.fail(new Error(`closed with ${e.code} ${e.reason}`));
  };
  return c;
}

function fail(code, message) {
  console.error(message);
  process.exit(code);
}

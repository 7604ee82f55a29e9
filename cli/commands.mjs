// The CLI's commands; each returns its exit code. Output is plain text meant to be read and grepped.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ApiError, client } from "./client.mjs";
import { readConfig, writeConfig } from "./config.mjs";
import { watch } from "./watch.mjs";
import { chat } from "./chat.mjs";
import { runBatch } from "./batch.mjs";
import { progressBar } from "./progress.mjs";
import { UsageError } from "./usage-error.mjs";

export { UsageError };

function connect() {
  const config = readConfig();
  if (!config.url || !config.key)
    throw new UsageError(
      "not logged in: run `edgeflow login --url <base-url>` (or set EDGEFLOW_URL and EDGEFLOW_API_KEY)",
    );
  return client(config);
}

/** A JSON value given inline or as @file. */
function jsonArg(value, what) {
  if (value === undefined) return undefined;
  const text = value.startsWith("@") ? readFileSync(value.slice(1), "utf8") : value;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${what} is not valid JSON${value.startsWith("@") ? ` (in ${value.slice(1)})` : ""}`);
  }
}

async function readStdin() {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text.trim();
}

export async function login(values) {
  if (!values.url) throw new UsageError("login needs --url <base-url>, e.g. --url http://localhost:8787");
  // The key comes from --key or standard input, so it need not sit in the shell's history.
  const key = values.key ?? (process.stdin.isTTY ? "" : await readStdin());
  if (!key) throw new UsageError("login needs the API key: --key <key>, or pipe it on standard input");
  const api = client({ url: values.url, key });
  await api.get("/v1/workflows?limit=1");
  const file = writeConfig({ url: api.base, key });
  console.log(`logged in to ${api.base}; saved in ${file} (mode 600)`);
  return 0;
}

async function allWorkflows(api) {
  const out = [];
  for (let cursor = null; ;) {
    const page = await api.get(`/v1/workflows?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    out.push(...page.data);
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

/** A workflow named by id (wf_…) or by its unique name. */
async function resolveWorkflow(api, ref) {
  if (/^wf_/.test(ref)) return ref;
  const matches = (await allWorkflows(api)).filter((w) => w.name === ref);
  if (matches.length === 1) return matches[0].id;
  if (matches.length === 0) throw new UsageError(`no workflow is named "${ref}"`);
  throw new UsageError(
    `${matches.length} workflows are named "${ref}" (${matches.map((w) => w.id).join(", ")}): use an id`,
  );
}

function definitionFiles(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Create each definition's workflow, or publish a new version only when it changed: definitions kept in git deploy
 * idempotently. A workflow is matched by its name.
 */
export async function apply(paths, values = {}) {
  if (paths.length === 0) throw new UsageError("workflows apply needs a file or a folder of *.json definitions");
  const api = connect();
  const existing = await allWorkflows(api);
  let failed = 0;
  let blocked = 0;
  // Checked before anything is published: a bad option must not leave a version half-applied.
  const chunk = chunkOf(values.chunk);
  for (const file of paths.flatMap(definitionFiles)) {
    const text = readFileSync(file, "utf8");
    let definition;
    try {
      definition = JSON.parse(text);
    } catch {
      throw new UsageError(`${file} is not valid JSON`);
    }
    const name = definition?.name;
    if (typeof name !== "string") throw new UsageError(`${file} has no "name"`);
    const same = existing.filter((w) => w.name === name);
    if (same.length > 1) throw new UsageError(`${same.length} workflows are named "${name}": rename one`);
    try {
      const digest = createHash("sha256").update(text).digest("hex").slice(0, 32);
      if (same.length === 0) {
        // Keyed on the file's content: a retried apply after a lost answer does not create a second workflow. The
        // workflow that key made may since have been deleted (410): applying the file again means a new one.
        const made = await api.postOnce("/v1/workflows", definition, `apply-${digest}`).catch((err) => {
          if (err instanceof ApiError && err.code === "idempotent_resource_gone")
            return api.postOnce("/v1/workflows", definition);
          throw err;
        });
        console.log(`created    ${name} ${made.id} v${made.version}  (${basename(file)})`);
      } else {
        // Keyed on the version it builds on and the file's content: a publish whose answer was lost is sent again
        // and answers its version (so --migrate-running still moves the runs), never "unchanged" or a second one.
        const key = `apply-${same[0].id}-v${same[0].latest_version}-${digest}`;
        const r = await api.putOnce(`/v1/workflows/${same[0].id}?if_changed=true`, definition, key);
        console.log(`${r.changed ? "published " : "unchanged "} ${name} ${r.id} v${r.version}  (${basename(file)})`);
        if (r.changed && values["migrate-running"])
          blocked += await migrateRunning(api, r.id, r.version - 1, r.version, chunk);
      }
    } catch (err) {
      failed++;
      console.error(`${basename(file)}:`);
      report(err);
    }
  }
  return failed ? 3 : blocked ? 1 : 0;
}

/**
 * After a publish: the dry run's report first (which unfinished runs of the previous version can move, and why the
 * rest cannot), then the move of the movable ones. Returns how many stay behind.
 */
async function migrateRunning(api, id, from, to, chunk) {
  const path = `/v1/workflows/${id}/migrations`;
  const dry = await api.post(path, { from, to, dry_run: true });
  console.log(`  running on v${from}: ${dry.total}, movable to v${to}: ${dry.movable}, blocked: ${dry.blocked}`);
  for (const e of dry.executions) if (!e.movable) console.log(`  blocked ${e.execution_id}: ${e.reason}`);
  if (dry.movable === 0) return dry.blocked;
  // The movable runs in chunks, so a large move shows how far it got as it goes (and a run that stopped being movable
  // since the dry run is reported with its reason, not moved).
  const movable = dry.executions.filter((e) => e.movable).map((e) => e.execution_id);
  const bar = progressBar(movable.length, (t) => `${t.moved} moved`);
  let moved = 0;
  let blocked = dry.blocked;
  for (let i = 0; i < movable.length; i += chunk) {
    const filter = { execution_ids: movable.slice(i, i + chunk) };
    const done = await api.post(path, { from, to, dry_run: false, filter });
    moved += done.moved;
    blocked += done.blocked;
    bar.clear();
    for (const e of done.executions) if (!e.movable) console.log(`  blocked ${e.execution_id}: ${e.reason}`);
    bar.draw(i + filter.execution_ids.length, { moved });
  }
  bar.clear();
  console.log(`  moved ${moved} to v${to}${blocked ? `; ${blocked} stay on v${from}` : ""}`);
  return blocked;
}

/** Runs moved per request (--chunk): by default a thousand-run move reports its progress four times. */
function chunkOf(text) {
  if (text === undefined) return 250;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new UsageError("--chunk must be a whole number from 1 to 10000");
  return n;
}

/**
 * Golden replay: check a definition file against recorded executions before publishing it. Nothing runs; exit 1 when
 * any node's resolved input would change (or no longer resolves), 0 when none would.
 */
export async function replayTest(file, values) {
  const ids = (values.replay ?? []).flatMap((v) => v.split(",")).filter(Boolean);
  if (!file || ids.length === 0)
    throw new UsageError(
      "test needs a definition file and --replay <execution-id> (repeat it, or list them with commas)",
    );
  const definition = jsonArg(`@${file}`, "the definition");
  const r = await connect().post("/v1/replay-checks", { definition, executions: ids });
  for (const e of r.executions) {
    console.log(
      `${e.execution_id} (${e.workflow_id} v${e.version}): ${e.failing ? `${e.failing} node(s) would change` : "unchanged"}`,
    );
    for (const n of e.nodes)
      if (n.verdict !== "unchanged")
        console.log(`  ${n.verdict.padEnd(9)} ${n.node_id}${n.detail ? `  ${n.detail}` : ""}`);
  }
  console.log(r.ok ? "replay: ok" : "replay: FAILED");
  return r.ok ? 0 : 1;
}

export async function run(ref, values) {
  if (!ref) throw new UsageError("run needs a workflow id or name");
  const api = connect();
  const id = await resolveWorkflow(api, ref);
  if (values.batch !== undefined) {
    const other = ["input", "watch", "wait"].find((o) => values[o] !== undefined);
    if (other) throw new UsageError(`--batch takes each item's input from its file; it does not go with --${other}`);
    return runBatch(api, id, values.batch.replace(/^@/, ""));
  }
  const input = jsonArg(values.input, "--input");
  const body = input === undefined ? {} : { input };
  if (values.wait) {
    // Start and wait in one request: the settled execution's output, or its error, in at most a minute.
    const done = await api.postOnce(`/v1/workflows/${id}/executions`, body, values["idempotency-key"], {
      prefer: "wait=60",
    });
    if (done.status === "succeeded") {
      console.log(JSON.stringify(done.output, null, 2));
      return 0;
    }
    if (["failed", "cancelled", "timed_out"].includes(done.status)) {
      console.error(`${done.id} ${done.status}: ${done.error?.code ?? ""} ${done.error?.message ?? ""}`.trim());
      return 1;
    }
    console.error(`${done.id} is still ${done.status} after 60 s; following it`);
    return watch(api, done.id);
  }
  const started = await api.postOnce(`/v1/workflows/${id}/executions`, body, values["idempotency-key"]);
  if (started.replayed) console.error(`${started.id} was started earlier with this Idempotency-Key`);
  if (!values.watch) {
    console.log(started.id);
    return 0;
  }
  return watch(api, started.id);
}

/** `chat <conversation>`, or `chat --workflow <w>` to start a new conversation (its id goes to stderr). */
export async function chatCommand(id, values) {
  const api = connect();
  if (!id && !values.workflow) throw new UsageError("chat needs a conversation id, or --workflow <w> to start one");
  let conversation = id;
  if (!conversation) {
    const workflow = await resolveWorkflow(api, values.workflow);
    conversation = (await api.postOnce("/v1/conversations", { workflow_id: workflow })).id;
    console.error(`conversation ${conversation}`);
  }
  return chat(api, conversation);
}

export async function watchCommand(id) {
  if (!id) throw new UsageError("watch needs an execution id");
  return watch(connect(), id);
}

export async function ls(values) {
  const api = connect();
  const q = new URLSearchParams({ limit: values.limit ?? "20" });
  if (values.status) q.set("status", values.status);
  if (values.workflow) q.set("workflow_id", await resolveWorkflow(api, values.workflow));
  const page = await api.get(`/v1/executions?${q}`);
  for (const e of page.data) {
    const took = e.started_at
      ? ((Date.parse(e.finished_at ?? new Date().toISOString()) - Date.parse(e.started_at)) / 1000).toFixed(2)
      : "";
    console.log(
      `${e.id}  ${e.status.padEnd(9)}  ${e.workflow_id} v${e.version}  ${e.created_at}  ${took ? `${took} s` : ""}`.trimEnd(),
    );
  }
  if (page.data.length === 0) console.log("no executions");
  return 0;
}

export async function logs(id) {
  if (!id) throw new UsageError("logs needs an execution id");
  const api = connect();
  for (let after = 0; ;) {
    const page = await api.get(`/v1/executions/${encodeURIComponent(id)}/events?after=${after}&limit=1000`);
    for (const e of page.data) {
      const where = e.node_id ? ` ${e.node_id}${e.attempt ? `#${e.attempt}` : ""}` : "";
      const data = JSON.stringify(e.data);
      console.log(`${String(e.seq).padStart(5)} ${e.at} ${e.type}${where}${data === "{}" ? "" : ` ${data}`}`);
    }
    if (page.data.length < 1000) return 0;
    after = page.next_after;
  }
}

export async function cancel(id, values) {
  if (!id) throw new UsageError("cancel needs an execution id");
  const r = await connect().post(
    `/v1/executions/${encodeURIComponent(id)}/cancel`,
    values.reason ? { reason: values.reason } : {},
  );
  console.log(r.changed === false ? `${id} was already ${r.status}` : `${id} cancelled`);
  return 0;
}

export async function redrive(id, values) {
  if (!id) throw new UsageError("redrive needs an execution id");
  const patch = jsonArg(values["input-patch"], "--input-patch");
  const body = {
    ...(values["from-node"] ? { from_node: values["from-node"] } : {}),
    ...(patch ? { input_patch: patch } : {}),
  };
  // With --idempotency-key, a redrive sent again (a lost answer) is the same one: its nodes do not run again.
  const r = await connect().postOnce(
    `/v1/executions/${encodeURIComponent(id)}/redrive`,
    body,
    values["idempotency-key"],
  );
  console.log(r.replayed ? `${id} was already redriven with this key: ${r.status}` : `${id} redriven: ${r.status}`);
  return 0;
}

export async function fork(id, values) {
  if (!id || !values["from-node"]) throw new UsageError("fork needs an execution id and --from-node <id>");
  if (values.effects !== undefined && !["mock", "allow"].includes(values.effects))
    throw new UsageError('--effects is "mock" or "allow"');
  const outputPatch = jsonArg(values["output-patch"], "--output-patch");
  const inputPatch = jsonArg(values["input-patch"], "--input-patch");
  const api = connect();
  const body = {
    from_node: values["from-node"],
    ...(outputPatch === undefined ? {} : { output_patch: outputPatch }),
    ...(inputPatch === undefined ? {} : { input_patch: inputPatch }),
    ...(values.effects ? { effects: values.effects } : {}),
    ...(values.label ? { label: values.label } : {}),
  };
  const r = await api.postOnce(`/v1/executions/${encodeURIComponent(id)}/forks`, body, values["idempotency-key"]);
  const again = r.rerun.length ? r.rerun.join(", ") : "nothing";
  console.error(`forked ${id} at ${r.fork_node}: ${r.kept} nodes kept, runs again: ${again} (effects ${r.effects})`);
  if (!values.watch) {
    console.log(r.id);
    return 0;
  }
  return watch(api, r.id);
}

/** `diff <execution> --against <execution>`: one line per node, its changed paths beneath it. */
export async function diff(id, values) {
  if (!id || !values.against) throw new UsageError("diff needs an execution id and --against <execution>");
  const d = await connect().get(
    `/v1/executions/${encodeURIComponent(id)}/diff?against=${encodeURIComponent(values.against)}`,
  );
  const width = Math.max(...d.nodes.map((n) => n.node_id.length));
  for (const n of d.nodes) {
    console.log(`${n.node_id.padEnd(width)}  ${n.status}`);
    for (const c of n.changes) console.log(`  ${c.path}: ${short(c.before)} -> ${short(c.after)}`);
    if (n.changes_truncated) console.log("  …more paths changed");
  }
  const usd = (v) => `$${v.toFixed(4)}`;
  console.log(
    `model calls ${d.llm_calls.this} (against ${d.llm_calls.against}), cost ${usd(d.cost_usd.this)} (against ${usd(d.cost_usd.against)}, ${d.cost_usd.difference <= 0 ? "" : "+"}${usd(d.cost_usd.difference)})`,
  );
  return d.nodes.every((n) => n.status === "unchanged") ? 0 : 1;
}

const short = (v) => {
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

export async function sendEvent(id, name, values) {
  if (!id || !name) throw new UsageError("events send needs an execution id and an event name");
  const payload = jsonArg(values.payload, "--payload");
  const body = { name, ...(payload === undefined ? {} : { payload }) };
  // With --idempotency-key, sending again (a script's retry after a lost answer) is the same event, not a second.
  const r = await connect().postOnce(
    `/v1/executions/${encodeURIComponent(id)}/events`,
    body,
    values["idempotency-key"],
  );
  const to = Array.isArray(r.delivered_to) ? r.delivered_to.join(", ") : r.delivered_to;
  const sent = r.replayed ? `${name} was already sent to ${id} with this key` : `${name} sent to ${id}`;
  console.log(`${sent}${to ? ` (delivered to ${to})` : " (kept until a node waits for it)"}`);
  return 0;
}

/** An API refusal as the API said it: title, code, detail, and each path that was wrong. */
export function report(err) {
  if (err?.name === "ApiError") {
    console.error(`error: ${err.title} (${err.code})${err.detail ? `: ${err.detail}` : ""}`);
    for (const e of err.errors) console.error(`  at ${e.path || "(body)"}: ${e.message}`);
  } else {
    console.error(`error: ${err?.message ?? err}`);
  }
}

// The clients a user has, against the real `npm start`: the `edgeflow` CLI, in a pipe (plain lines, no escape codes)
// and in a pseudo-terminal (`script` from util-linux), with the exit codes the README documents; and a TypeScript
// client generated from /openapi.json (openapi-typescript + openapi-fetch), type-checked and then run.
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callLocal, startLocal, type LocalServer } from "../support/local-server";
import { startTargetServer } from "../support/target-server";

let local: LocalServer;
let target: Awaited<ReturnType<typeof startTargetServer>>;
let home: string;
const CLI = join(process.cwd(), "cli", "edgeflow.mjs");

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI with its output in pipes; `stdin` is written to it. */
function edgeflow(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, EDGEFLOW_CONFIG_DIR: join(home, "config"), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/** The CLI in a pseudo-terminal: `script` gives it a tty and records what it drew. */
function edgeflowInTty(args: string[]): Promise<Ran> {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  return new Promise((resolve) => {
    execFile(
      "script",
      ["-qec", command, "/dev/null"],
      { env: { ...process.env, EDGEFLOW_CONFIG_DIR: join(home, "config"), TERM: "xterm" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const ESC = "\x1b[";

/** Write a workflow definition to a file and apply it with the CLI, as a user keeping definitions in files does. */
async function applied(name: string, nodes: unknown[]): Promise<void> {
  const file = join(home, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, nodes }));
  expect((await edgeflow(["workflows", "apply", file])).code).toBe(0);
}

/** The migration finds runs in the history D1 keeps: wait until these are listed there as running. */
async function listedRunning(ids: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    const listed = await callLocal(local, "GET", `/v1/executions?status=running&limit=100`);
    if (ids.every((id) => listed.body.data.some((e: { id: string }) => e.id === id))) return;
    if (i > 100) throw new Error(`${ids} not listed as running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A proxy to `upstream` that does each request but drops the connection of every other one of `methods`. */
async function lossyProxy(upstream: string, methods = ["POST"]) {
  let sent = 0;
  let dropped = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => !["host", "connection", "content-length"].includes(k)),
    ) as Record<string, string>;
    const up = await fetch(`${upstream}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const body = Buffer.from(await up.arrayBuffer());
    if (methods.includes(req.method as string) && sent++ % 2 === 0) {
      dropped++;
      req.socket.destroy();
      return;
    }
    const kept = [...up.headers].filter(
      ([k]) => !["content-encoding", "content-length", "transfer-encoding"].includes(k),
    );
    res.writeHead(up.status, Object.fromEntries(kept)).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    dropped: () => dropped,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

beforeAll(async () => {
  [local, target] = await Promise.all([startLocal(), startTargetServer()]);
  home = mkdtempSync(join(tmpdir(), "edgeflow-cli-"));
});

afterAll(async () => {
  await Promise.all([local?.stop(), target?.close()]);
  rmSync(home, { recursive: true, force: true });
});

describe("the edgeflow CLI", () => {
  it("logs in with the key on stdin, keeps it in a mode 600 file, and refuses a wrong key with the API's reason", async () => {
    const bad = await edgeflow(["login", "--url", local.base, "--key", "ef_000000000000_not-a-key"]);
    expect(bad).toMatchObject({ code: 3, stdout: "" });
    expect(bad.stderr).toMatch(/^error: Unauthorized \(invalid_credentials\): .+\n$/);
    const down = await edgeflow(["login", "--url", "http://127.0.0.1:9", "--key", local.key]);
    expect(down.code).toBe(4);
    expect(down.stderr).toContain("cannot reach http://127.0.0.1:9");
    expect((await edgeflow(["login"])).code).toBe(2);

    const ok = await edgeflow(["login", "--url", `${local.base}/`], `${local.key}\n`);
    expect(ok.code).toBe(0);
    const file = join(home, "config", "config.json");
    expect(ok.stdout).toBe(`logged in to ${local.base}; saved in ${file} (mode 600)\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, "config")).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ url: local.base, key: local.key });
  });

  it("applies definitions idempotently: created, unchanged, then published only when a file changed", async () => {
    const dir = join(home, "workflows");
    mkdirSync(dir, { recursive: true });
    const def = (expression: string) =>
      JSON.stringify({
        $schema: `${local.base}/schemas/workflow.json`,
        name: "cli-applied",
        nodes: [{ id: "a", kind: "transform", config: { expression } }],
      });
    writeFileSync(join(dir, "applied.json"), def("1"));
    const first = await edgeflow(["workflows", "apply", dir]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^created {4}cli-applied wf_\w+ v1 {2}\(applied\.json\)\n$/);
    expect((await edgeflow(["workflows", "apply", dir])).stdout).toMatch(/^unchanged {2}cli-applied wf_\w+ v1 /);
    writeFileSync(join(dir, "applied.json"), def("2"));
    expect((await edgeflow(["workflows", "apply", join(dir, "applied.json")])).stdout).toMatch(
      /^published  cli-applied wf_\w+ v2 /,
    );
    writeFileSync(
      join(dir, "broken.json"),
      JSON.stringify({ name: "cli-broken", nodes: [{ id: "x", kind: "http", config: {} }] }),
    );
    const broken = await edgeflow(["workflows", "apply", dir]);
    expect(broken.code).toBe(3);
    expect(broken.stderr).toContain("broken.json:\nerror: Bad Request (invalid_definition)");
    expect(broken.stderr).toMatch(/ {2}at nodes\[0\]\.config\.url: /);
    expect(broken.stdout).toMatch(/unchanged {2}cli-applied wf_\w+ v2/);
  });

  it("checks a definition against recorded runs before it is applied (test --replay): exit 0 unchanged, 1 changed", async () => {
    const def = (expression: string) => ({
      name: "cli-replayed",
      nodes: [
        { id: "a", kind: "transform", config: { expression: "input.n * 2" } },
        { id: "b", kind: "http", needs: ["a"], config: { url: `${target.url}/echo/replay?n={{ ${expression} }}` } },
      ],
    });
    const wf = await callLocal(local, "POST", "/v1/workflows", def("nodes.a.output"));
    const started = await fetch(`${local.base}/v1/workflows/${wf.body.id}/executions`, {
      method: "POST",
      headers: { authorization: `Bearer ${local.key}`, "content-type": "application/json", prefer: "wait=30" },
      body: JSON.stringify({ input: { n: 21 } }),
    });
    const ran = { body: (await started.json()) as { id: string; status: string } };
    expect(ran.body.status).toBe("succeeded");
    const file = join(home, "replayed.json");
    writeFileSync(file, JSON.stringify(def("nodes.a.output")));
    const same = await edgeflow(["test", file, "--replay", ran.body.id]);
    expect([same.code, same.stdout]).toEqual([0, `${ran.body.id} (${wf.body.id} v1): unchanged\nreplay: ok\n`]);
    writeFileSync(file, JSON.stringify(def("nodes.a.output + 1")));
    const changed = await edgeflow(["test", file, "--replay", ran.body.id]);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain("  changed   b  config.url");
    expect(changed.stdout).toContain("replay: FAILED");
    expect((await edgeflow(["test", file])).code).toBe(2);
  });

  it("runs with --watch in a pipe: one plain line per change, a retry and a map's progress, exit 0", async () => {
    await applied("cli-watched", [
      {
        id: "flaky",
        kind: "http",
        config: { url: `${target.url}/flaky/cli-watch?fail=1` },
        retry: { max_attempts: 3, initial_delay_ms: 500, jitter: false },
      },
      {
        id: "each",
        kind: "map",
        needs: ["flaky"],
        config: {
          items: "[1..4]",
          max_concurrency: 2,
          node: { kind: "http", config: { url: `${target.url}/slow/cli-{{ item }}?ms=100` } },
        },
      },
    ]);
    const watched = await edgeflow(["run", "cli-watched", "--input", "{}", "--watch"]);
    expect(watched.stderr).toBe("");
    expect(watched.code).toBe(0);
    expect(watched.stdout).not.toContain(ESC);
    const lines = watched.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ex_\w+ \(wf_\w+ v1\)$/);
    expect(watched.stdout).toMatch(/ flaky retrying \(attempt 1\) http_503; next attempt \d\d:\d\d:\d\d\n/);
    expect(watched.stdout).toMatch(/ flaky succeeded \(attempt 2\) \d+(\.\d+)? m?s\n/);
    expect(watched.stdout).toContain(" each [####################] 4/4");
    expect(lines.at(-1)).toMatch(/^execution ex_\w+ succeeded in \d/);
    const id = /^(ex_\w+)/.exec(lines[0] as string)?.[1] as string;

    // The same run, watched again after it ended, in a terminal: redrawn in place, coloured, same exit code.
    const tty = await edgeflowInTty(["watch", id]);
    expect(tty.code).toBe(0);
    expect(tty.stdout).toContain(`${ESC}2K`);
    expect(tty.stdout).toMatch(/\x1b\[\d+A/);
    expect(tty.stdout).toContain("✔ each");
    expect(tty.stdout).toContain("[####################] 4/4");
    expect(tty.stdout).toMatch(/flaky +succeeded +\d+(\.\d+)? m?s +attempt 2/);

    const logs = await edgeflow(["logs", id]);
    expect(logs.stdout).toMatch(/^ {4}1 \S+ execution\.queued /);
    expect(logs.stdout).toContain(" node.retrying flaky#1 ");
    const ls = await edgeflow(["ls", "--workflow", "cli-watched", "--status", "succeeded"]);
    expect(ls.stdout).toMatch(new RegExp(`^${id}  succeeded  wf_\\w+ v1 `));
  });

  it("exits 1 when the watched run fails, and drives cancel, redrive and events send", async () => {
    await applied("cli-failing", [
      {
        id: "check",
        kind: "transform",
        config: { expression: "input.ok ? 'fine' : $error('not ok')" },
        retry: { max_attempts: 1 },
      },
      { id: "gate", kind: "wait_for_event", needs: ["check"], config: { event: "go" } },
    ]);
    const failed = await edgeflow(["run", "cli-failing", "--watch"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ check failed \S+ \S+ expression_error: .*not ok/);
    expect(failed.stdout).toMatch(/\nexecution (ex_\w+) failed in .+: \S+: .+\n$/);
    const id = /\nexecution (ex_\w+) failed/.exec(failed.stdout)?.[1] as string;

    const redrive = [
      "redrive",
      id,
      "--from-node",
      "check",
      "--input-patch",
      '{"ok": true}',
      "--idempotency-key",
      "fix-1",
    ];
    expect((await edgeflow(redrive)).stdout).toMatch(new RegExp(`^${id} redriven: (queued|running)\n$`));
    expect((await edgeflow(redrive)).stdout).toMatch(
      new RegExp(`^${id} was already redriven with this key: (queued|running)\n$`),
    );
    const send = ["events", "send", id, "go", "--payload", '{"by": "cli"}', "--idempotency-key", "go-1"];
    expect(await edgeflow(send)).toMatchObject({ code: 0, stdout: `go sent to ${id} (delivered to gate)\n` });
    // A script that sends again (it lost the answer) gets the same event back, not a second one.
    expect(await edgeflow(send)).toMatchObject({
      code: 0,
      stdout: `go was already sent to ${id} with this key (delivered to gate)\n`,
    });
    const done = await edgeflow(["watch", id]);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/ gate succeeded /);

    const waiting = (await edgeflow(["run", "cli-failing", "--input", '{"ok": true}'])).stdout.trim();
    expect(waiting).toMatch(/^ex_\w+$/);
    expect((await edgeflow(["cancel", waiting, "--reason", "from the cli"])).stdout).toBe(`${waiting} cancelled\n`);
    expect((await edgeflow(["watch", waiting])).code).toBe(1);

    const missing = await edgeflow(["run", "wf_00000000000000000000000000", "--watch"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error: Not Found \(workflow_not_found\): /);
    expect(missing.stderr).not.toMatch(/\n\s+at .*\.mjs/);
    const badInput = await edgeflow(["run", "cli-failing", "--input", "{oops"]);
    expect(badInput).toMatchObject({ code: 2, stderr: 'error: --input is not valid JSON\nsee "edgeflow help"\n' });
  });

  it("forks a finished run at a node (fork --watch) and prints what changed against it (diff)", async () => {
    await applied("cli-forkable", [
      { id: "price", kind: "transform", config: { expression: "{'each': input.each}" } },
      { id: "qty", kind: "transform", config: { expression: "{'n': 3}" } },
      {
        id: "total",
        kind: "transform",
        needs: ["price", "qty"],
        config: { expression: "{'sum': nodes.price.output.each * nodes.qty.output.n}" },
      },
    ]);
    const first = await edgeflow(["run", "cli-forkable", "--input", '{"each": 2}', "--watch"]);
    expect(first.code).toBe(0);
    const source = /\nexecution (ex_\w+) succeeded/.exec(first.stdout)?.[1] as string;
    const forked = await edgeflow(["fork", source, "--from-node", "price", "--input-patch", '{"each": 5}', "--watch"]);
    expect(forked.code, forked.stderr).toBe(0);
    expect(forked.stderr).toBe(`forked ${source} at price: 1 nodes kept, runs again: price, total (effects mock)\n`);
    const fork = /\nexecution (ex_\w+) succeeded/.exec(forked.stdout)?.[1] as string;
    expect(forked.stdout).not.toMatch(/ qty started/);
    const diff = await edgeflow(["diff", fork, "--against", source]);
    expect(diff).toMatchObject({
      code: 1,
      stdout:
        "price  changed\n  $.each: 2 -> 5\nqty    unchanged\ntotal  changed\n  $.sum: 6 -> 15\n" +
        "model calls 0 (against 0), cost $0.0000 (against $0.0000, $0.0000)\n",
    });
    expect((await edgeflow(["diff", source, "--against", source])).code).toBe(0);
    const bad = await edgeflow(["fork", source, "--from-node", "nope"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/unknown_node/);
    expect((await edgeflow(["fork", source])).code).toBe(2);
  });

  it("publishes a version and moves the previous version's parked runs to it (workflows apply --migrate-running)", async () => {
    const file = join(home, "parked.json");
    const nodes = [
      { id: "a", kind: "transform", config: { expression: "1" } },
      { id: "w", kind: "wait_for_event", needs: ["a"], config: { event: "go" } },
    ];
    writeFileSync(file, JSON.stringify({ name: "cli-parked", nodes }));
    await edgeflow(["workflows", "apply", file]);
    const ids = [
      (await edgeflow(["run", "cli-parked"])).stdout.trim(),
      (await edgeflow(["run", "cli-parked"])).stdout.trim(),
    ];
    await listedRunning(ids);
    const after = { id: "after", kind: "transform", needs: ["w"], config: { expression: "'added in v2'" } };
    writeFileSync(file, JSON.stringify({ name: "cli-parked", nodes: [...nodes, after] }));
    expect((await edgeflow(["workflows", "apply", file, "--migrate-running", "--chunk", "0"])).stderr).toMatch(
      /--chunk must be a whole number/,
    );
    // One run a request: the progress goes to stderr (a line per request in a pipe), the report to stdout.
    const applied = await edgeflow(["workflows", "apply", file, "--migrate-running", "--chunk", "1"]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(
      /^published  cli-parked wf_\w+ v2 {2}\(parked\.json\)\n {2}running on v1: 2, movable to v2: 2, blocked: 0\n {2}moved 2 to v2\n$/,
    );
    expect(applied.stderr).toBe("[##########..........] 1/2  1 moved\n");
    for (const id of ids) {
      await edgeflow(["events", "send", id, "go"]);
      expect((await edgeflow(["watch", id])).stdout).toMatch(/ after succeeded /);
      expect((await callLocal(local, "GET", `/v1/executions/${id}`)).body).toMatchObject({
        version: 2,
        status: "succeeded",
      });
    }
  });

  it("starts and waits in one request (run --wait, Prefer: wait), and a client that hangs up leaves the run going", async () => {
    await applied("cli-quick", [
      { id: "nap", kind: "sleep", config: { duration_ms: "{{ input.ms ?? 0 }}" } },
      { id: "sum", kind: "transform", needs: ["nap"], config: { expression: "{'total': input.a + input.b}" } },
    ]);
    const waited = await edgeflow(["run", "cli-quick", "--input", '{"a": 2, "b": 3}', "--wait"]);
    expect(waited).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(waited.stdout)).toEqual({ sum: { total: 5 } });
    const failed = await edgeflow(["run", "cli-failing", "--input", "{}", "--wait"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^ex_\w+ failed: node_failed failed nodes: check\n$/);

    // Over a socket: the request is dropped while the run sleeps; the run ends all the same.
    const auth = { authorization: `Bearer ${local.key}` };
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${local.base}${path}`, { headers: { ...auth, ...headers } });
      return { headers: res.headers, body: (await res.json()) as any };
    };
    const quick = (await get("/v1/workflows?limit=100")).body.data.find((w: any) => w.name === "cli-quick").id;
    const hangUp = new AbortController();
    const pending = fetch(`${local.base}/v1/workflows/${quick}/executions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", prefer: "wait=30" },
      body: JSON.stringify({ input: { a: 1, b: 1, ms: 1500 } }),
      signal: hangUp.signal,
    }).catch((err: Error) => err.name);
    await new Promise((r) => setTimeout(r, 400));
    hangUp.abort();
    expect(await pending).toBe("AbortError");
    const runs = await get(`/v1/executions?workflow_id=${quick}&limit=10`);
    const dropped = runs.body.data.find((e: any) => e.status === "running" || e.status === "queued");
    expect(dropped).toBeDefined();
    const settled = await get(`/v1/executions/${dropped.id}`, { prefer: "wait=10" });
    expect(settled.headers.get("preference-applied")).toBe("wait=10");
    expect(settled.body).toMatchObject({ status: "succeeded", output: { sum: { total: 2 } } });
  });

  it("sends again under the same Idempotency-Key when an answer is lost: one execution, one event", async () => {
    await applied("cli-lossy", [{ id: "gate", kind: "wait_for_event", config: { event: "go" } }]);
    // A proxy in front of npm start that does the first POST and then drops its connection before answering.
    const proxy = await lossyProxy(local.base);
    try {
      const via = { EDGEFLOW_URL: proxy.url };
      const started = await edgeflow(["run", "cli-lossy"], undefined, via);
      expect(started.code).toBe(0);
      expect(started.stderr).toBe(
        "edgeflow: the answer was lost; sending again in 0.5 s under the same Idempotency-Key\n",
      );
      const id = started.stdout.trim();
      const workflowId = (await callLocal(local, "GET", `/v1/executions/${id}`)).body.workflow_id;
      const runs = await callLocal(local, "GET", `/v1/executions?workflow_id=${workflowId}`);
      expect(runs.body.data.map((e: { id: string }) => e.id)).toEqual([id]);

      const sent = await edgeflow(["events", "send", id, "go"], undefined, via);
      expect(sent).toMatchObject({ code: 0, stdout: `go sent to ${id} (delivered to gate)\n` });
      const events = (await callLocal(local, "GET", `/v1/executions/${id}/events?after=0`)).body.data;
      expect(events.filter((e: { type: string }) => e.type === "event.received")).toHaveLength(1);
      expect(proxy.dropped()).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it("applies a changed file once when the publish's answer is lost, and creates again a deleted workflow's file", async () => {
    const file = join(home, "cli-publish.json");
    const nodes = [
      { id: "a", kind: "transform", config: { expression: "1" } },
      { id: "w", kind: "wait_for_event", needs: ["a"], config: { event: "go" } },
    ];
    const after = { id: "after", kind: "transform", needs: ["w"], config: { expression: "2" } };
    writeFileSync(file, JSON.stringify({ name: "cli-publish", nodes }));
    const created = await edgeflow(["workflows", "apply", file]);
    const id = /created +cli-publish (wf_\S+) v1/.exec(created.stdout)?.[1] as string;
    expect(id).toBeDefined();
    const parked = (await callLocal(local, "POST", `/v1/workflows/${id}/executions`, { input: {} })).body.id;
    await listedRunning([parked]);
    writeFileSync(file, JSON.stringify({ name: "cli-publish", nodes: [...nodes, after] }));
    // The publish is done, but its answer is lost on the way back.
    const proxy = await lossyProxy(local.base, ["PUT"]);
    try {
      const published = await edgeflow(["workflows", "apply", file, "--migrate-running"], undefined, {
        EDGEFLOW_URL: proxy.url,
      });
      expect(published.code, published.stderr).toBe(0);
      expect(published.stderr).toContain(
        "edgeflow: the answer was lost; sending again in 0.5 s under the same Idempotency-Key\n",
      );
      // The resent publish answers the version it made (not "unchanged"), so the waiting run still moves to it.
      expect(published.stdout).toContain(`published  cli-publish ${id} v2`);
      expect(published.stdout).toContain("running on v1: 1, movable to v2: 1, blocked: 0\n  moved 1 to v2\n");
      expect(proxy.dropped()).toBe(1);
    } finally {
      await proxy.close();
    }
    const versions = (await callLocal(local, "GET", `/v1/workflows/${id}/versions`)).body.data;
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await callLocal(local, "GET", `/v1/executions/${parked}`)).body.version).toBe(2);

    // Deleted, then the first file applied again: a new workflow, not the deleted one's key answering 410.
    expect((await callLocal(local, "DELETE", `/v1/workflows/${id}`)).status).toBe(204);
    writeFileSync(file, JSON.stringify({ name: "cli-publish", nodes }));
    const again = await edgeflow(["workflows", "apply", file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/created +cli-publish wf_\S+ v1/);
    expect(again.stdout).not.toContain(id);
  });

  it("waits out the API key's rate limit (429 with Retry-After) and sends again: the run starts once", async () => {
    await applied("cli-limited", [{ id: "one", kind: "transform", config: { expression: "1" } }]);
    // A key of the dev tenant allowed 20 requests a minute (a token every 3 s), as `npm run keys` makes one.
    const made = execFileSync(
      "npm",
      ["run", "-s", "keys", "--", "create", "dev", "--name", "limited", "--rate", "20"],
      {
        encoding: "utf8",
        env: { ...process.env, EDGEFLOW_PERSIST_TO: local.state },
      },
    );
    expect(made).toContain("rate:    20 requests a minute\n");
    const key = /api key: (\S+)/.exec(made)?.[1] as string;
    let refused: Response | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const res = await fetch(`${local.base}/v1/workflows`, { headers: { authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      if (res.status === 429) refused = res;
    }
    expect(refused?.headers.get("retry-after")).toMatch(/^[1-3]$/);

    const started = await edgeflow(["run", "cli-limited"], undefined, { EDGEFLOW_API_KEY: key });
    expect(started.code).toBe(0);
    const waits = started.stderr.split("\n").filter(Boolean);
    expect(waits.length).toBeGreaterThan(0);
    for (const line of waits)
      expect(line).toMatch(/^edgeflow: the API answered 429 rate_limited; sending again in [1-3] s/);
    const id = started.stdout.trim();
    const workflowId = (await callLocal(local, "GET", `/v1/executions/${id}`)).body.workflow_id;
    const runs = await callLocal(local, "GET", `/v1/executions?workflow_id=${workflowId}`);
    expect(runs.body.data.map((e: { id: string }) => e.id)).toEqual([id]);

    // run --batch waits its request's 429 out itself, clearing its progress bar first (one line per wait).
    const file = join(home, "limited.ndjson");
    writeFileSync(file, '{"input": {"n": 1}}\n{"input": {"n": 2}}\n');
    const batch = await edgeflow(["run", "cli-limited", "--batch", `@${file}`], undefined, { EDGEFLOW_API_KEY: key });
    expect(batch.code, batch.stderr).toBe(0);
    expect(batch.stdout).toMatch(/^ex_\w+ created\nex_\w+ created\n$/);
    expect(batch.stderr).toMatch(/^rate_limited: trying again in [1-3] s \(attempt 2\)$/m);
  });

  it("watches a run whose stream is full (429 subscriber_limit): it waits as told and opens it again", async () => {
    await applied("cli-crowded", [{ id: "gate", kind: "wait_for_event", config: { event: "go" } }]);
    const id = (await edgeflow(["run", "cli-crowded"])).stdout.trim();
    // npm start lets 100 subscribers watch one execution: these take every place.
    const crowd = new AbortController();
    const streams = await Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(`${local.base}/v1/executions/${id}/stream`, {
          headers: { authorization: `Bearer ${local.key}`, accept: "text/event-stream" },
          signal: crowd.signal,
        }),
      ),
    );
    expect(streams.every((r) => r.status === 200)).toBe(true);
    const watching = edgeflow(["watch", id]);
    // Once its stream was refused (npm start logs each request), the crowd leaves and the run goes on.
    for (let i = 0; !/"path":"\/v1\/executions\/[^"]+\/stream","status":429/.test(local.output()); i++) {
      if (i > 300) throw new Error("the watch's stream was never refused");
      await new Promise((r) => setTimeout(r, 50));
    }
    crowd.abort();
    expect((await callLocal(local, "POST", `/v1/executions/${id}/events`, { name: "go" })).status).toBe(202);
    const watched = await watching;
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toContain(`execution ${id} succeeded`);
    expect(watched.stderr).toBe("edgeflow: the stream answered 429 subscriber_limit; opening it again in 5 s\n");
  });

  it("starts a batch from an NDJSON file (run --batch): per-item answers, a refused line, and a re-run that replays", async () => {
    await applied("cli-batched", [{ id: "double", kind: "transform", config: { expression: "input.n * 2" } }]);
    const file = join(home, "items.ndjson");
    const lines = [
      { input: { n: 1 } },
      { input: { n: 2 }, tags: ["cli"] },
      { input: { n: 1 } },
      { input: 3, bogus: 1 },
    ];
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n\n`);
    const first = await edgeflow(["run", "cli-batched", "--batch", `@${file}`]);
    expect(first.code).toBe(1);
    const started = first.stdout.trimEnd().split("\n");
    expect(started).toHaveLength(3);
    for (const l of started) expect(l).toMatch(/^ex_\w+ created$/);
    // Two lines with the same content are two items: each has its own derived key.
    expect(new Set(started).size).toBe(3);
    expect(first.stderr).toMatch(/^line 4: refused validation_failed: .+; at bogus: .+$/m);
    expect(first.stderr).toMatch(/^wf_\w+ v1: 3 created, 0 replayed, 1 refused\n$/m);

    // The same file again (say after an interruption): nothing starts twice.
    const again = await edgeflow(["run", "cli-batched", "--batch", file]);
    expect(again.stdout).toBe(started.map((l) => l.replace("created", "replayed")).join("\n") + "\n");
    const ran = await callLocal(local, "GET", `/v1/executions/${started[1]?.split(" ")[0]}`);
    expect(ran.body).toMatchObject({ tags: ["cli"] });

    const broken = join(home, "broken.ndjson");
    writeFileSync(broken, '{"input": 1}\n{oops\n');
    expect(await edgeflow(["run", "cli-batched", "--batch", `@${broken}`])).toMatchObject({
      code: 2,
      stdout: "",
      stderr: `error: ${broken}:2 is not valid JSON\nsee "edgeflow help"\n`,
    });
    expect((await edgeflow(["run", "cli-batched", "--batch", file, "--wait"])).code).toBe(2);

    // More than one request's worth, in a terminal: the bar is redrawn in place and ends full.
    const many = join(home, "many.ndjson");
    writeFileSync(many, Array.from({ length: 1001 }, (_, n) => JSON.stringify({ input: { n } })).join("\n"));
    const tty = await edgeflowInTty(["run", "cli-batched", "--batch", `@${many}`]);
    expect(tty.code).toBe(0);
    expect(tty.stdout.match(/ex_\w+ created/g)).toHaveLength(1001);
    expect(tty.stdout).toContain(`\r${ESC}2K[##########`);
    expect(tty.stdout).toContain("[####################] 1001/1001  1001 created, 0 replayed, 0 refused");
    const counts = await callLocal(local, "GET", `/v1/executions/counts?workflow_id=${ran.body.workflow_id}`);
    expect(Object.values(counts.body.counts as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(1004);
  });
});

describe("a client generated from /openapi.json", () => {
  it("type-checks a program that creates a workflow, starts it and reads the execution, and the program works", async () => {
    const { default: openapiTS, astToString } = await import("openapi-typescript");
    const doc = (await (await fetch(`${local.base}/openapi.json`)).json()) as Parameters<typeof openapiTS>[0];
    // Inside the repository so the program resolves openapi-fetch from node_modules; git-ignored.
    const dir = join(process.cwd(), "test-results", "generated-client");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "api.d.ts"), astToString(await openapiTS(doc)));
    writeFileSync(
      join(dir, "program.ts"),
      `import createClient from "openapi-fetch";
import type { paths } from "./api.d.ts";

type NodeDef = paths["/v1/workflows"]["post"]["requestBody"]["content"]["application/json"]["nodes"][number];
// @ts-expect-error an http node's config needs a url: the node kinds are typed, not a record of anything
const broken: NodeDef = { id: "x", kind: "http", config: {} };
void broken;

export async function main(baseUrl: string, key: string): Promise<string> {
  const api = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${key}\` } });
  const made = await api.POST("/v1/workflows", {
    body: { name: "generated", nodes: [{ id: "double", kind: "transform", config: { expression: "input.n * 2" } }] },
  });
  if (!made.data) throw new Error(\`create: \${made.error?.code}\`);
  const started = await api.POST("/v1/workflows/{id}/executions", {
    params: { path: { id: made.data.id }, header: { "Idempotency-Key": "generated-1" } },
    body: { input: { n: 21 } },
  });
  if (!started.data) throw new Error(\`start: \${started.error?.code}\`);
  for (;;) {
    const view = await api.GET("/v1/executions/{id}", { params: { path: { id: started.data.id } } });
    if (!view.data) throw new Error(\`read: \${view.error?.code}\`);
    const status: "queued" | "running" | "paused" | "succeeded" | "failed" | "cancelled" | "timed_out" = view.data.status;
    const node = view.data.nodes[0];
    if (status === "succeeded" && node) return \`\${node.node_id} \${node.status} \${JSON.stringify(node.output)}\`;
    if (status !== "queued" && status !== "running") throw new Error(status);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const [baseUrl, key] = process.argv.slice(2) as [string, string];
console.log(await main(baseUrl, key));
`,
    );
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          allowImportingTsExtensions: true,
          types: ["node"],
        },
        files: ["program.ts"],
      }),
    );
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    // A document that stopped matching the code would fail here (types) or below (the program's answers).
    const tsc = join(process.cwd(), "node_modules", ".bin", "tsc");
    expect(() => execFileSync(tsc, ["-p", dir], { encoding: "utf8", stdio: "pipe" })).not.toThrow();
    const out = execFileSync(process.execPath, [join(dir, "program.ts"), local.base, local.key], { encoding: "utf8" });
    expect(out).toBe("double succeeded 42\n");
  }, 60_000);
});

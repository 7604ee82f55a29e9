// The real `npm start`, as a user runs it, on a free port with its own state folder (not the vitest pool).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export interface LocalServer {
  base: string;
  key: string;
  state: string;
  /** The `npm start` process (its workerd runs under it). */
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A copy of the repository as git sees it (tracked and untracked-but-not-ignored files, so no .dev.vars), with
 * node_modules linked: a fresh clone's tree, for commands that write into the repository.
 */
export function copyOfRepo(prefix = "edgeflow-copy-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    try {
      cpSync(f, join(dir, f));
    } catch {
      // Deleted in the working tree but still in the index.
    }
  }
  symlinkSync(resolve("node_modules"), join(dir, "node_modules"));
  return dir;
}

/** Start `npm start` (in `cwd`, the repository by default) and resolve once it printed its banner with the dev key. */
export async function startLocal(timeoutMs = 120_000, cwd?: string): Promise<LocalServer> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "edgeflow-start-"));
  const env = { ...process.env, PORT: String(port), EDGEFLOW_PERSIST_TO: state };
  const child: ChildProcess = spawn("npm", ["start"], {
    env,
    cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d) => (out += String(d)));
  child.stderr?.on("data", (d) => (out += String(d)));
  const running = () => child.exitCode === null && child.signalCode === null;
  // The whole process group (npm, start.mjs, wrangler, workerd); one that is already gone is not an error.
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid as number), sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  };
  const stop = async () => {
    if (running()) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      signal("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (running()) signal("SIGKILL");
    }
    rmSync(state, { recursive: true, force: true });
  };
  for (const end = Date.now() + timeoutMs; ;) {
    const key = /dev tenant API key: (ef_\S+)/.exec(out)?.[1];
    if (key && out.includes("/metrics"))
      return { base: `http://127.0.0.1:${port}`, key, state, pid: child.pid as number, output: () => out, stop };
    if (!running() || Date.now() > end) {
      await stop();
      throw new Error(`npm start did not come up (exit ${child.exitCode}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One API call to a local server with its dev key (or another), the body parsed. */
export async function callLocal(local: LocalServer, method: string, path: string, body?: unknown, key = local.key) {
  const res = await fetch(`${local.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

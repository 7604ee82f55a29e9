// The one way this project serves a Worker locally (npm start, both benches and their floor Worker): wrangler's
// unstable_startWorker, the API `wrangler dev` is built on, with the same local workerd, D1, Durable Objects and R2,
// .dev.vars and [vars]. Unlike the `wrangler dev` CLI it attaches no DevTools inspector unless one is asked for:
// with an inspector every console.log costs workerd ~0.7 ms of CPU to report (0.05 ms without), a cost production
// does not have. The Worker's log lines still reach the terminal, through workerd's structured logs, which wrangler
// prints at its "log" level (at "info" it would drop them).
import { unstable_startWorker } from "wrangler";
import { devEnv } from "./dev-env.mjs";

/**
 * Serve `config`'s Worker on 127.0.0.1:`port` with its state in `persist`; `vars` override [vars] as `--var` does;
 * `inspectorPort` attaches DevTools there; `watch` rebuilds and reloads on source changes. Resolves once it serves.
 */
export async function startDevServer({
  config = "wrangler.toml",
  port,
  persist,
  vars = {},
  inspectorPort = null,
  watch = false,
  logLevel = "log",
}) {
  // wrangler reads its dev switches (the trace collector, the local explorer) from this process's environment.
  Object.assign(process.env, devEnv());
  const worker = await unstable_startWorker({
    config,
    bindings: Object.fromEntries(Object.entries(vars).map(([k, value]) => [k, { type: "plain_text", value }])),
    dev: {
      server: { hostname: "127.0.0.1", port: Number(port) },
      inspector: inspectorPort ? { hostname: "127.0.0.1", port: Number(inspectorPort) } : false,
      persist,
      logLevel,
      watch,
    },
  });
  await worker.ready;
  return worker;
}

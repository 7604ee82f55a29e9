// Serves a Worker in local workerd for the benches (scripts/lib/dev-server.mjs: the same way npm start does, with no
// DevTools inspector unless one is asked for), in a process of its own so /proc can price it apart from the harness.
// Usage: node bench/serve.mjs <port> <persist-dir> [inspector-port] [--config <wrangler.toml>] (default: the bench
// Worker, bench/wrangler.bench.toml). Stays up until SIGTERM; prints "ready" once the Worker answers.
import { startDevServer } from "../scripts/lib/dev-server.mjs";

const args = process.argv.slice(2);
const at = args.indexOf("--config");
const config = at >= 0 ? args.splice(at, 2)[1] : "bench/wrangler.bench.toml";
const [port, persist, inspectorPort] = args;
const worker = await startDevServer({ config, port, persist, inspectorPort, logLevel: "error" });
console.log("ready");
const stop = async () => {
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

// Serves the bench Worker (bench/wrangler.bench.toml) in local workerd, the way `wrangler dev` does, but with no
// DevTools inspector attached unless one is asked for. `wrangler dev` always attaches one, and with it every
// console.log costs workerd about 0.7 ms of CPU to report to the inspector (0.05 ms without): a cost production does
// not have, paid only by the side that logs. Usage: node bench/serve.mjs <port> <persist-dir> [inspector-port]
// Stays up until SIGTERM; prints "ready" once the Worker answers.
import { unstable_startWorker } from "wrangler";

const [port, persist, inspectorPort] = process.argv.slice(2);
const worker = await unstable_startWorker({
  config: "bench/wrangler.bench.toml",
  dev: {
    server: { hostname: "127.0.0.1", port: Number(port) },
    inspector: inspectorPort ? { hostname: "127.0.0.1", port: Number(inspectorPort) } : false,
    persist,
    logLevel: "error",
    watch: false,
  },
});
await worker.ready;
console.log("ready");
const stop = async () => {
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

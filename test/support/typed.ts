import { exports } from "cloudflare:workers";
import { hc } from "hono/client";
import type { AppType } from "../../src/worker";

/** Hono's typed client over the Worker's real fetch handler: paths, methods and response bodies are checked by tsc. */
export function typedClient(token: string) {
  return hc<AppType>("http://edgeflow.test", {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(input, init),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  });
}

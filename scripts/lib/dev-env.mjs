// The environment every local dev server of this project runs under (npm start, the benches, the floor Worker
// they compare against). wrangler dev attaches, by default, a trace collector to each Worker (X_LOCAL_OBSERVABILITY)
// and its local explorer (X_LOCAL_EXPLORER): dev-only features Cloudflare does not run in production, which under
// `npm run bench:http` cost ~6–8 ms of workerd CPU per short execution (every D1 call and RPC is traced). They are
// off unless the caller's environment turns them on (X_LOCAL_OBSERVABILITY=true npm start). Nor does a start fetch
// Cloudflare's `Request.cf` object from workers.cloudflare.com: Edgeflow reads nothing from it, and with no network
// miniflare prints a stack trace for it on every start (CLOUDFLARE_CF_FETCH_ENABLED=true turns it back on).
export function devEnv(extra = {}) {
  return {
    X_LOCAL_OBSERVABILITY: "false",
    X_LOCAL_EXPLORER: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    ...extra,
  };
}

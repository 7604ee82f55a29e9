import { allowedHosts, checkUrl } from "../../lib/ssrf";
import { resolveModel, type Resolution, type Tier } from "./config";

/**
 * resolveModel plus the SSRF guard on the base URL: a base URL into private space is a configuration error, reported
 * before any call (and by GET /v1/models). Local model servers need their host in ALLOWED_PRIVATE_HOSTS.
 */
export function resolveTarget(
  vars: Record<string, unknown>,
  choice: { tier?: Tier | undefined; provider?: string | undefined; model?: string | undefined },
): Resolution {
  const r = resolveModel(vars, choice);
  if (!r.ok || r.target.sdk === "workers-ai") return r;
  const vetted = checkUrl(r.target.baseUrl, allowedHosts(vars as unknown as Env));
  if (vetted.ok) return r;
  const variable = `${r.target.provider.toUpperCase().replace(/-/g, "_")}_BASE_URL`;
  return {
    ok: false,
    code: "ssrf_refused",
    message: `${variable} "${r.target.baseUrl.slice(0, 200)}" is refused: ${vetted.reason}`,
  };
}

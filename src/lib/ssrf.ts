// The SSRF guard for every URL the engine fetches on a tenant's behalf (http nodes, monitors, alert webhooks,
// LLM base URLs). Production Workers do not promise to refuse hosts that resolve privately, so this is ours.

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

// Names that mean "this machine" or "this network" whatever DNS says.
const PRIVATE_NAMES = [
  /^localhost$/,
  /\.localhost$/,
  /\.local$/,
  /\.internal$/,
  /\.intranet$/,
  /\.lan$/,
  /\.home\.arpa$/,
  /^metadata$/,
  /^metadata\.google\.internal$/,
];

/** Parse and vet a URL: http(s) only, no credentials, no private/loopback/link-local/CGNAT/metadata addresses. */
export function checkUrl(raw: string, allowedHosts: readonly string[]): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `"${raw.slice(0, 200)}" is not an absolute URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { ok: false, reason: `scheme ${url.protocol} is not allowed (http and https only)` };
  if (url.username || url.password) return { ok: false, reason: "credentials in URLs are not allowed" };
  // The WHATWG parser has already turned decimal, octal and hex IPv4 forms into dotted quads.
  const host = url.hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  if (allowedHosts.includes(host)) return { ok: true, url };
  const v4 = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) return privateV4(v4.slice(1).map(Number)) ? refused(host) : { ok: true, url };
  if (host.includes(":")) return privateV6(host) ? refused(host) : { ok: true, url };
  if (PRIVATE_NAMES.some((p) => p.test(host))) return refused(host);
  return { ok: true, url };
}

function refused(host: string): UrlCheck {
  return {
    ok: false,
    reason: `${host} is a private, loopback, link-local or metadata address (list it in ALLOWED_PRIVATE_HOSTS to allow it)`,
  };
}

function privateV4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return true;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a >= 224 || // this network, private, loopback, multicast and reserved
    (a === 100 && b >= 64 && b <= 127) || // CGNAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) || // IETF protocol assignments, incl. 192.0.0.0/24
    (a === 198 && (b === 18 || b === 19)) // benchmarking
  );
}

function privateV6(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "::" || h === "::1") return true;
  // IPv4-mapped / -compatible / NAT64 forms carry an IPv4 address in the last 32 bits.
  const mapped = h.match(/^(?:::ffff:|::|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/);
  if (mapped) {
    if (mapped[1]) return privateV4(mapped[1].split(".").map(Number));
    const hi = parseInt(mapped[2] as string, 16);
    const lo = parseInt(mapped[3] as string, 16);
    return privateV4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  }
  const first = parseInt(h.split(":")[0] || "0", 16);
  return (
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 || // multicast
    h.startsWith("::ffff:") ||
    h.startsWith("fec0:") // anything else mapped; site-local (deprecated)
  );
}

/** ALLOWED_PRIVATE_HOSTS as a list (comma separated; the local dev and test configs list 127.0.0.1). */
export function allowedHosts(env: Env): string[] {
  const raw = (env as unknown as { ALLOWED_PRIVATE_HOSTS?: string }).ALLOWED_PRIVATE_HOSTS ?? "";
  return raw
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * fetch with the guard applied to the URL and to every redirect hop (followed by hand, at most `maxRedirects`),
 * so a public URL cannot bounce the request into private space.
 */
export async function guardedFetch(
  input: string,
  init: RequestInit,
  allowed: readonly string[],
  maxRedirects = 5,
): Promise<Response> {
  let target = input;
  let request = init;
  for (let hop = 0; ; hop++) {
    const check = checkUrl(target, allowed);
    if (!check.ok) throw new SsrfError(check.reason);
    const res = await fetch(check.url, { ...request, redirect: "manual" });
    const location = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !location) return res;
    if (hop >= maxRedirects) throw new SsrfError(`more than ${maxRedirects} redirects`);
    await res.body?.cancel();
    target = new URL(location, check.url).toString();
    // 303, and 301/302 after a POST, turn into a GET without a body, as browsers do.
    if (
      res.status === 303 ||
      ((res.status === 301 || res.status === 302) &&
        request.method &&
        request.method !== "GET" &&
        request.method !== "HEAD")
    ) {
      request = { ...request, method: "GET", body: undefined };
    }
  }
}

export class SsrfError extends Error {
  override readonly name = "SsrfError";
}

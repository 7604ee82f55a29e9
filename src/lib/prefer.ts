/** The longest `Prefer: wait` any endpoint honours, in seconds: a request held longer risks proxies' idle limits. */
export const MAX_PREFER_WAIT_SECONDS = 60;

/**
 * The `wait` preference of RFC 7240 (`Prefer: wait=10`, also among others: `Prefer: respond-async, wait=5`), in
 * seconds, capped at `max`; null when the request states none or states it malformed (a preference may be ignored).
 */
export function preferredWait(header: string | undefined, max: number): number | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const [pref] = part.split(";");
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(pref ?? "");
    if (m) return Math.min(Number(m[1]), max);
  }
  return null;
}

// What the node inspector shows of a node's configuration: secrets never appear, even when a definition put a
// literal credential where a {{ secrets.NAME }} reference belongs.
const SECRET_KEY = /(authorization|api[-_]?key|secret|token|password|passwd|cookie|signature|credential)/i;
const SECRET_VALUE = /^(bearer|basic)\s+\S+|^(sk|pk|rk|ak|ef|ghp|xox[bp])[-_][\w-]{8,}/i;
export const REDACTED = "[redacted]";

export function redact(value: unknown, key = ""): unknown {
  if (typeof value === "string") {
    // A template names the secret without holding it ({{ secrets.OPENAI_KEY }}): that is safe and useful to show.
    if (/^\s*\{\{[^}]*\}\}\s*$/.test(value)) return value;
    return SECRET_KEY.test(key) || SECRET_VALUE.test(value) ? REDACTED : value;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  return value;
}

// AES-GCM for tenant secrets. The key is the Worker secret SECRETS_KEY (base64, 32 bytes); the tenant and the secret's
// name are authenticated with each value, so a ciphertext copied to another tenant or name does not decrypt.

const b64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export class SecretsUnconfigured extends Error {
  override readonly name = "SecretsUnconfigured";
}

async function key(env: Env): Promise<CryptoKey> {
  const raw = (env as unknown as { SECRETS_KEY?: string }).SECRETS_KEY;
  const bytes = raw ? unb64(raw) : null;
  if (!bytes || bytes.byteLength !== 32)
    throw new SecretsUnconfigured("secrets need the Worker secret SECRETS_KEY (32 random bytes, base64)");
  return crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function seal(
  env: Env,
  tenantId: string,
  name: string,
  value: string,
): Promise<{ ciphertext: string; iv: string }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(`${tenantId}:${name}`) },
    await key(env),
    new TextEncoder().encode(value),
  );
  return { ciphertext: b64(new Uint8Array(sealed)), iv: b64(iv) };
}

export async function open(
  env: Env,
  tenantId: string,
  name: string,
  box: { ciphertext: string; iv: string },
): Promise<string> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: unb64(box.iv), additionalData: new TextEncoder().encode(`${tenantId}:${name}`) },
    await key(env),
    unb64(box.ciphertext),
  );
  return new TextDecoder().decode(plain);
}

/**
 * A monitor's webhook signing secret as stored in D1: sealed with SECRETS_KEY and bound to the tenant and monitor.
 * It must be readable to sign alerts, so it is encrypted rather than hashed.
 */
export async function sealWebhookSecret(
  env: Env,
  tenantId: string,
  monitorId: string,
  secret: string,
): Promise<string> {
  const box = await seal(env, tenantId, `monitor:${monitorId}`, secret);
  return `sealed:${box.iv}:${box.ciphertext}`;
}

export async function openWebhookSecret(
  env: Env,
  tenantId: string,
  monitorId: string,
  stored: string,
): Promise<string> {
  // Rows written before secrets were sealed hold the plain whsec_ value.
  if (!stored.startsWith("sealed:")) return stored;
  const [, iv, ciphertext] = stored.split(":") as [string, string, string];
  return open(env, tenantId, `monitor:${monitorId}`, { iv, ciphertext });
}

/** Replace every occurrence of any secret value inside `value` (deeply) with "[redacted]". */
export function redact<T>(value: T, secretValues: readonly string[]): T {
  const needles = secretValues.filter((s) => s.length >= 4);
  if (needles.length === 0) return value;
  const scrub = (v: unknown): unknown => {
    if (typeof v === "string") return needles.reduce((acc, n) => acc.split(n).join("[redacted]"), v);
    if (Array.isArray(v)) return v.map(scrub);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k) as string, scrub(x)]));
    return v;
  };
  return scrub(value) as T;
}

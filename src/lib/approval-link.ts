// Approval links: a token that names one approval (so one execution, node and run of it), one approver and an expiry,
// with an HMAC under a key derived from SECRETS_KEY (HKDF, so the AES key of secret-box.ts is never used to sign).
// The token proves who may decide; whether the approval can still be decided is the database's answer.
import { SecretsUnconfigured } from "./secret-box";

export interface LinkClaims {
  approval_id: string;
  execution_id: string;
  node_id: string;
  approver: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const unb64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

async function signingKey(env: Env): Promise<CryptoKey> {
  const raw = (env as unknown as { SECRETS_KEY?: string }).SECRETS_KEY;
  let bytes: Uint8Array | null = null;
  try {
    bytes = raw ? Uint8Array.from(atob(raw), (c) => c.charCodeAt(0)) : null;
  } catch {
    bytes = null;
  }
  if (!bytes || bytes.byteLength !== 32)
    throw new SecretsUnconfigured("approval links need the Worker secret SECRETS_KEY (32 random bytes, base64)");
  const base = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("edgeflow approval links v1") },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign", "verify"],
  );
}

/** Throws SecretsUnconfigured when links cannot be signed here, so an approval fails before anyone is told. */
export async function checkLinkKey(env: Env): Promise<void> {
  await signingKey(env);
}

export async function signLink(env: Env, claims: LinkClaims): Promise<string> {
  const body = b64url(
    enc.encode(
      JSON.stringify({
        a: claims.approval_id,
        e: claims.execution_id,
        n: claims.node_id,
        r: claims.approver,
        x: claims.expires_at,
      }),
    ),
  );
  const mac = await crypto.subtle.sign("HMAC", await signingKey(env), enc.encode(body));
  return `${body}.${b64url(new Uint8Array(mac))}`;
}

/** The claims of a token this deployment signed (expired or not: the caller tells 410 from 403), or null. */
export async function verifyLink(env: Env, token: string): Promise<LinkClaims | null> {
  const [body, mac, extra] = token.split(".");
  if (!body || !mac || extra !== undefined || token.length > 2048) return null;
  try {
    const ok = await crypto.subtle.verify("HMAC", await signingKey(env), unb64url(mac), enc.encode(body));
    if (!ok) return null;
    const c = JSON.parse(new TextDecoder().decode(unb64url(body))) as Record<string, unknown>;
    if (typeof c.a !== "string" || typeof c.e !== "string" || typeof c.n !== "string" || typeof c.r !== "string")
      return null;
    if (typeof c.x !== "number") return null;
    return { approval_id: c.a, execution_id: c.e, node_id: c.n, approver: c.r, expires_at: c.x };
  } catch (err) {
    if (err instanceof SecretsUnconfigured) throw err;
    return null;
  }
}

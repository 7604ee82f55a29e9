// API key format and hashing, shared by the Worker and scripts/keys.mjs (Node runs this file by type stripping,
// so it uses only erasable TypeScript and Web Crypto).

/** `ef_<12 hex prefix>_<43 char base64url secret>`: the prefix finds the row, only the hash is stored. */
export async function generateApiKey(): Promise<{ token: string; prefix: string; hash: string }> {
  const prefix = toHex(crypto.getRandomValues(new Uint8Array(6)));
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const token = `ef_${prefix}_${secret}`;
  return { token, prefix, hash: await hashApiKey(token) };
}

export function keyPrefix(token: string): string | null {
  const m = /^ef_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(token);
  return m ? (m[1] as string) : null;
}

export async function hashApiKey(token: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

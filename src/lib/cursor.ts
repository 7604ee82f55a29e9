import type { Cursor } from "../db/repo";

/** A keyset position as an opaque URL-safe token (base64url of its values as JSON). */
export function encodeKeyset(values: readonly (string | number)[]): string {
  return btoa(JSON.stringify(values)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The values of a token encodeKeyset made; throws for anything else. */
export function decodeKeyset(raw: string): unknown[] {
  const parsed: unknown = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/")));
  if (!Array.isArray(parsed)) throw new Error("malformed cursor");
  return parsed;
}

export function encodeCursor(c: Cursor): string {
  return encodeKeyset([c.created_at, c.id]);
}

/** Null for a missing cursor; throws for a malformed one so the route can answer 400. */
export function decodeCursor(raw: string | undefined): Cursor | null {
  if (!raw) return null;
  const parsed = decodeKeyset(raw);
  if (typeof parsed[0] !== "number" || typeof parsed[1] !== "string") throw new Error("malformed cursor");
  return { created_at: parsed[0], id: parsed[1] };
}

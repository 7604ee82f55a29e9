import type { Cursor } from "../db/repo";

export function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify([c.created_at, c.id]))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Null for a missing cursor; throws for a malformed one so the route can answer 400. */
export function decodeCursor(raw: string | undefined): Cursor | null {
  if (!raw) return null;
  const parsed: unknown = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/")));
  if (!Array.isArray(parsed) || typeof parsed[0] !== "number" || typeof parsed[1] !== "string")
    throw new Error("malformed cursor");
  return { created_at: parsed[0], id: parsed[1] };
}

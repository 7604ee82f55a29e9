// The API from the browser: the key lives in sessionStorage only (gone with the tab), goes in the Authorization
// header, never in a URL; errors arrive as the API's problem+json and are kept whole for the page to show.
const KEY = "edgeflow.api_key";
const listeners = new Set<() => void>();

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn(key: string): void {
    sessionStorage.setItem(KEY, key);
    for (const l of listeners) l();
  },
  signOut(): void {
    sessionStorage.removeItem(KEY);
    for (const l of listeners) l();
  },
  onChange(l: () => void): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    readonly errors: { path: string; message: string }[],
  ) {
    super(`${title}: ${detail}`);
    this.name = "ApiError";
  }
}

async function problemOf(res: Response): Promise<ApiError> {
  const p = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  const errors = Array.isArray(p?.errors) ? (p.errors as { path: string; message: string }[]) : [];
  return new ApiError(
    res.status,
    typeof p?.code === "string" ? p.code : `http_${res.status}`,
    typeof p?.title === "string" ? p.title : res.statusText || "Error",
    typeof p?.detail === "string" ? p.detail : "",
    errors,
  );
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  key = session.key(),
  extra: Record<string, string> = {},
): Promise<T> {
  if (!key) throw new ApiError(401, "signed_out", "Signed out", "Sign in with an API key.", []);
  const headers: Record<string, string> = { ...extra, authorization: `Bearer ${key}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  if (!res.ok) {
    const err = await problemOf(res);
    // A revoked or expired key signs the tab out instead of leaving every page failing.
    if (res.status === 401 && key === session.key()) session.signOut();
    throw err;
  }
  return res.status === 204 ? (undefined as T) : ((await res.json()) as T);
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body: unknown = {}, headers?: Record<string, string>) =>
    request<T>("POST", path, body, session.key(), headers),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, body),
};

/** Fetch a file the API streams (an export) with the key, and hand it to the browser as a download. */
export async function download(path: string, filename: string, key = session.key()): Promise<void> {
  if (!key) throw new ApiError(401, "signed_out", "Signed out", "Sign in with an API key.", []);
  const res = await fetch(path, { headers: { authorization: `Bearer ${key}` } });
  if (!res.ok) throw await problemOf(res);
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A query string from the set fields only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// A forum that behaves like the real ones the monitoring backend watched (Reddit's API contract): its API takes
// only OAuth2 bearer tokens from the identity provider in oauth-site.ts and only clients that name themselves in
// a User-Agent (403 otherwise), rate-limits each client (429 with Retry-After and X-Ratelimit-* headers once the
// window's requests are spent), and answers 200 for a post a moderator removed ("[removed]" in place of its text)
// or whose author was shadow-banned (the listing comes back empty).
//   POST /forum/api/submit {title, body}        → 201 {id, url} (url: the post's JSON listing)
//   GET  /forum/api/comments/:id.json           → 200 Listing
//   POST /forum/_posts/:id/remove | /shadowban  (a moderator; no auth)
//   POST /forum/_limits {client, limit, window_s} (a client's rate limit; default 60 requests a minute)
//   GET  /forum/_stats                          → requests answered per status
import type { IncomingMessage } from "node:http";
import { tokenOwner } from "./oauth-site";

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

const posts = new Map<string, { title: string; text: string; state: "live" | "removed" | "shadowbanned" }>();
const windows = new Map<string, { start: number; used: number }>();
const stats: Record<string, number> = {};
const limitsOf = new Map<string, { limit: number; window_s: number }>();
let serial = 0;

export function forumSite(req: IncomingMessage, url: URL, body: string, base: string, reply: Reply): boolean {
  const path = url.pathname;
  const count: Reply = (status, b, h) => {
    stats[status] = (stats[status] ?? 0) + 1;
    reply(status, b, h);
  };
  const moderation = /^\/forum\/_posts\/([^/]+)\/(remove|shadowban)$/.exec(path);
  if (moderation) {
    const post = posts.get(moderation[1] as string);
    if (!post) return (reply(404, { error: "no such post" }), true);
    post.state = moderation[2] === "remove" ? "removed" : "shadowbanned";
    return (reply(204, null), true);
  }
  if (path === "/forum/_limits") {
    const { client, ...limit } = JSON.parse(body) as { client: string; limit: number; window_s: number };
    limitsOf.set(client, limit);
    windows.delete(client);
    return (reply(204, null), true);
  }
  if (path === "/forum/_stats") return (reply(200, stats), true);
  if (!path.startsWith("/forum/api/")) return false;

  if (!/\S+\/\S+/.test(req.headers["user-agent"] ?? ""))
    return (count(403, { message: "Forbidden", error: 403, reason: "name your client in User-Agent" }), true);
  const token = /^bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
  const client = token ? tokenOwner(token) : null;
  if (!client)
    return (
      count(
        401,
        { message: "Unauthorized", error: 401 },
        { "www-authenticate": 'Bearer realm="forum", error="invalid_token"' },
      ),
      true
    );
  const now = Date.now();
  const limits = limitsOf.get(client) ?? { limit: 60, window_s: 60 };
  const w = windows.get(client);
  const current = w && now - w.start < limits.window_s * 1000 ? w : { start: now, used: 0 };
  windows.set(client, current);
  const reset = Math.ceil((current.start + limits.window_s * 1000 - now) / 1000);
  const headers = {
    "x-ratelimit-used": String(current.used),
    "x-ratelimit-remaining": String(Math.max(0, limits.limit - current.used)),
    "x-ratelimit-reset": String(reset),
  };
  if (current.used >= limits.limit)
    return (
      count(429, { message: "Too Many Requests", error: 429 }, { ...headers, "retry-after": String(reset) }),
      true
    );
  current.used++;

  if (path === "/forum/api/submit" && req.method === "POST") {
    const post = JSON.parse(body || "{}") as { title?: string; body?: string };
    if (!post.title) return (count(400, { error: "title required" }, headers), true);
    const id = `t3_${(++serial).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    posts.set(id, { title: post.title, text: post.body ?? "", state: "live" });
    return (count(201, { id, url: `${base}/forum/api/comments/${id}.json` }, headers), true);
  }
  const listing = /^\/forum\/api\/comments\/([^/]+)\.json$/.exec(path);
  if (listing && req.method === "GET") {
    const id = listing[1] as string;
    const post = posts.get(id);
    if (!post) return (count(404, { message: "Not Found", error: 404 }, headers), true);
    // The title is HTML-escaped, as the site renders it; a shadow-banned post is simply not there for others.
    const children =
      post.state === "shadowbanned"
        ? []
        : [
            {
              kind: "t3",
              data: {
                id,
                title: post.title.replace(/&/g, "&amp;").replace(/'/g, "&#39;"),
                selftext: post.state === "removed" ? "[removed]" : post.text,
                removed_by_category: post.state === "removed" ? "moderator" : null,
              },
            },
          ];
    return (count(200, { kind: "Listing", data: { children } }, headers), true);
  }
  return (count(404, { message: "Not Found", error: 404 }, headers), true);
}

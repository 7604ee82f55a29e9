// RFC 9457 problem+json bodies, shared by the Hono error handler and the Durable Objects' own responses.

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export interface Problem {
  status: number;
  code: string;
  detail: string;
  instance?: string;
  request_id?: string | null;
  headers?: Record<string, string>;
  extra?: Record<string, unknown>;
}

export function problemResponse(p: Problem): Response {
  const body = {
    type: `urn:edgeflow:problem:${p.code}`,
    title: TITLES[p.status] ?? "Error",
    status: p.status,
    code: p.code,
    detail: p.detail,
    ...(p.instance ? { instance: p.instance } : {}),
    ...(p.request_id ? { request_id: p.request_id } : {}),
    ...p.extra,
  };
  return new Response(JSON.stringify(body), {
    status: p.status,
    headers: { "content-type": "application/problem+json", ...p.headers },
  });
}

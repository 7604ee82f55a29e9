// A real HTTP server on loopback that http nodes call in tests: echo, slow, flaky, fixed status, hanging,
// and a side-effect endpoint that dedupes by Idempotency-Key the way a well-behaved API does.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

interface Call {
  at: number;
  method: string;
  path: string;
  idempotency_key: string | null;
  started_at: number;
  finished_at?: number;
}

export async function startTargetServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const calls = new Map<string, Call[]>();
  const effects = new Map<string, Map<string, unknown>>();
  // Webhook receivers: the test registers a secret; deliveries are verified with the standardwebhooks package.
  const hookSecrets = new Map<string, string>();
  const hookFailures = new Map<string, number>();
  const deliveries = new Map<string, { at: number; verified: boolean; error: string | null; headers: Record<string, unknown>; body: unknown }[]>();

  const record = (key: string, req: IncomingMessage): Call => {
    const call: Call = { at: Date.now(), method: req.method ?? "GET", path: req.url ?? "", idempotency_key: header(req, "idempotency-key"), started_at: Date.now() };
    calls.set(key, [...(calls.get(key) ?? []), call]);
    return call;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const body = await readBody(req);
    const parts = url.pathname.split("/").filter(Boolean);
    const q = (name: string) => url.searchParams.get(name);
    switch (parts[0]) {
      case "echo":
        return json(res, 200, { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body: parseMaybe(body) });
      case "slow": {
        const call = record(parts[1] ?? "slow", req);
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "200")));
        call.finished_at = Date.now();
        return json(res, 200, { key: parts[1], started_at: call.started_at, finished_at: call.finished_at });
      }
      case "flaky": {
        const key = parts[1] ?? "flaky";
        const n = record(key, req) && (calls.get(key)?.length ?? 0);
        if (n <= Number(q("fail") ?? "1")) {
          const headers: Record<string, string> = q("retry_after") ? { "retry-after": q("retry_after") as string } : {};
          return json(res, Number(q("status") ?? "503"), { error: "flaky", call: n }, headers);
        }
        return json(res, 200, { ok: true, calls: n });
      }
      case "status":
        record(parts[2] ?? `status-${parts[1]}`, req);
        return json(res, Number(parts[1]), { status: Number(parts[1]) });
      case "hang":
        record(parts[1] ?? "hang", req);
        return; // never answers; the client's timeout must end the attempt
      case "side-effect": {
        const key = parts[1] ?? "effect";
        const idem = header(req, "idempotency-key") ?? "";
        record(key, req);
        const done = effects.get(key) ?? new Map<string, unknown>();
        effects.set(key, done);
        if (!done.has(idem)) done.set(idem, { effect: done.size + 1, body: parseMaybe(body) });
        await new Promise((r) => setTimeout(r, Number(q("ms") ?? "0")));
        return json(res, 200, done.get(idem));
      }
      case "_hooks": {
        const key = parts[1] ?? "";
        if (req.method === "POST") {
          const cfg = JSON.parse(body) as { secret: string; fail?: number };
          hookSecrets.set(key, cfg.secret);
          hookFailures.set(key, cfg.fail ?? 0);
          return json(res, 204, null);
        }
        return json(res, 200, { deliveries: deliveries.get(key) ?? [] });
      }
      case "hooks": {
        const key = parts[1] ?? "";
        let verified = false;
        let error: string | null = null;
        try {
          new Webhook(hookSecrets.get(key) ?? "").verify(body, req.headers as Record<string, string>);
          verified = true;
        } catch (err) {
          error = String(err);
        }
        deliveries.set(key, [...(deliveries.get(key) ?? []), { at: Date.now(), verified, error, headers: req.headers, body: parseMaybe(body) }]);
        const left = hookFailures.get(key) ?? 0;
        if (left > 0) {
          hookFailures.set(key, left - 1);
          return json(res, 503, { error: "receiver down" });
        }
        return json(res, verified ? 200 : 401, { verified });
      }
      case "_calls":
        return json(res, 200, { calls: calls.get(parts[1] ?? "") ?? [], effects: Object.fromEntries(effects.get(parts[1] ?? "") ?? []) });
      default:
        return json(res, 404, { error: "no such endpoint" });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function header(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === "string" ? v : null;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, headers);
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function parseMaybe(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

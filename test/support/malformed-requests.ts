// The malformed-input gate's requests: valid requests for each documented operation and mutated ones (wrong types,
// missing fields, huge strings, deep nesting, invalid UTF-8, wrong content types, oversized bodies, junk paths and
// queries), and the tally of what came back. No Cloudflare imports: the gate runs in the workerd pool
// (test/reliability/malformed.test.ts) and over real sockets against `npm start` (test/reliability-local/).
import { concretePath, type Ids, type JsonSchema, type Op } from "./operations-doc";

/** A valid body for an operation (the caller's, since a monitor's body names its own target server). */
export type BodyFor = (op: Pick<Op, "method" | "path">, ids: Ids) => unknown;

// The default of each [vars] body cap an operation names in `x-body-limit` (the gates run with the defaults).
const BODY_LIMITS: Record<string, number> = { MAX_BODY_BYTES: 1024 * 1024, MAX_BATCH_BODY_BYTES: 8 * 1024 * 1024 };

function bodyLimit(op: Op): number {
  const limit = BODY_LIMITS[op.bodyLimit ?? "MAX_BODY_BYTES"];
  if (limit === undefined) throw new Error(`${op.method} ${op.path}: unknown x-body-limit ${op.bodyLimit}`);
  return limit;
}

export interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: BodyInit;
  /** The status this mutation must get, when one is owed (413 past the body cap, 415 for a non-JSON type). */
  expect?: number;
  label: string;
}

export class Gen {
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)] as T;
  }
  text(max = 40): string {
    const alphabet = [
      "a",
      "Z",
      "7",
      " ",
      "-",
      "_",
      "é",
      "ß",
      "漢",
      "🙂",
      "\u0000",
      '"',
      "\\",
      "<",
      "'",
      "\n",
      "%",
      "{{",
      "}}",
    ];
    return Array.from({ length: this.int(1, max) }, () => this.pick(alphabet)).join("");
  }
  json(depth = 2): unknown {
    const kind = this.int(0, depth > 0 ? 6 : 4);
    if (kind === 0) return null;
    if (kind === 1) return this.r() < 0.5;
    if (kind === 2) return this.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1]);
    if (kind === 3 || kind === 4) return this.text();
    if (kind === 5) return Array.from({ length: this.int(0, 3) }, () => this.json(depth - 1));
    return Object.fromEntries(Array.from({ length: this.int(0, 3) }, () => [this.text(8), this.json(depth - 1)]));
  }
  /** A value the query parameter's JSON schema accepts. */
  queryValue(s: JsonSchema): string | null {
    const schema = s.anyOf?.find((x) => x.type !== "null") ?? s;
    if (schema.enum) return String(this.pick(schema.enum));
    if (schema.type === "integer" || schema.type === "number")
      return String(this.int(Math.max(schema.minimum ?? 0, -5), Math.min(schema.maximum ?? 1000, 1000)));
    if (schema.format === "date-time") return new Date(Date.now() - this.int(0, 1e9)).toISOString();
    if (schema.pattern?.includes(":")) return `${this.pick(["env", "team"])}:${this.pick(["prod", "a"])}`;
    return null;
  }
}

const bodyHeaders = { "content-type": "application/json" };

export function validRequest(g: Gen, op: Op, ids: Ids, bodyFor: BodyFor): Req {
  const query = new URLSearchParams();
  for (const [name, schema] of Object.entries(op.query)) {
    if (name === "cursor" || g.r() < 0.5) continue;
    const v = g.queryValue(schema);
    if (v !== null) query.set(name, v);
  }
  const base = concretePath(op, ids);
  const path = base + (query.size ? `${base.includes("?") ? "&" : "?"}${query}` : "");
  const body = bodyFor(op, ids);
  const varied = body && typeof body === "object" ? vary(g, structuredClone(body) as Record<string, unknown>) : body;
  return {
    method: op.method,
    path,
    headers: op.hasBody ? { ...bodyHeaders } : {},
    ...(varied !== undefined ? { body: JSON.stringify(varied) } : {}),
    label: "valid",
  };
}

/** Valid variations: free-text fields get random text, inputs and payloads random JSON. */
function vary(g: Gen, body: Record<string, unknown>): Record<string, unknown> {
  for (const key of ["name", "reason", "value"])
    if (typeof body[key] === "string" && g.r() < 0.7) body[key] = g.text(60).replace(/\u0000/g, "") || "x";
  for (const key of ["input", "payload"]) if (key in body && g.r() < 0.7) body[key] = g.json(3);
  return body;
}

const MUTATIONS = [
  "wrong-type",
  "missing-field",
  "extra-field",
  "huge-string",
  "deep-nesting",
  "invalid-utf8",
  "wrong-content-type",
  "oversized",
  "not-json",
  "junk-path",
  "junk-query",
  "whole-body",
  "idempotency-key",
] as const;

export function mutatedRequest(g: Gen, op: Op, ids: Ids, bodyFor: BodyFor): Req {
  const base = validRequest(g, op, ids, bodyFor);
  // GET requests carry no body: their mutations are in the path and the query.
  const kind = op.method === "GET" ? g.pick(["junk-path", "junk-query"] as const) : g.pick(MUTATIONS);
  const body = base.body ? (JSON.parse(base.body as string) as Record<string, unknown>) : {};
  const keys = Object.keys(body);
  const withBody = (b: unknown): Req => ({
    ...base,
    headers: { ...bodyHeaders },
    body: JSON.stringify(b),
    label: kind,
  });
  switch (kind) {
    case "wrong-type":
      if (keys.length) body[g.pick(keys)] = g.pick([42, "42", [], {}, null, true, -1.5]);
      return withBody(body);
    case "missing-field":
      if (keys.length) delete body[g.pick(keys)];
      return withBody(body);
    case "extra-field":
      body[g.text(10)] = g.json();
      return withBody(body);
    case "huge-string": {
      const huge = "x".repeat(g.int(10_000, 500_000));
      if (keys.length) body[g.pick(keys)] = huge;
      else body.name = huge;
      return withBody(body);
    }
    case "deep-nesting": {
      const depth = g.int(1_000, 100_000);
      const nested = `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const field = keys.length ? g.pick(keys) : "input";
      return {
        ...base,
        headers: { ...bodyHeaders },
        body: JSON.stringify({ ...body, [field]: "__DEEP__" }).replace('"__DEEP__"', nested),
        label: kind,
      };
    }
    case "invalid-utf8": {
      const bytes = new TextEncoder().encode(JSON.stringify({ ...body, name: "AB" }));
      const at = bytes.indexOf(0x41);
      if (at >= 0) bytes.set([0xff, 0xfe], at);
      return { ...base, headers: { ...bodyHeaders }, body: bytes, label: kind };
    }
    case "wrong-content-type": {
      const type = g.pick([
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/xml",
      ]);
      return {
        ...base,
        headers: { "content-type": type },
        body: base.body ?? "{}",
        ...(op.hasBody ? { expect: 415 } : {}),
        label: kind,
      };
    }
    case "oversized":
      return {
        ...base,
        headers: { ...bodyHeaders },
        body: JSON.stringify({ ...body, pad: "y".repeat(bodyLimit(op) + g.int(1, 4096)) }),
        ...(op.hasBody ? { expect: 413 } : {}),
        label: kind,
      };
    case "not-json":
      return {
        ...base,
        headers: { ...bodyHeaders },
        body: g.pick(["{", "nul", "{'a': 1}", "[1,]", "\u0000", '{"a":1}{', ""]),
        label: kind,
      };
    case "junk-path": {
      const junk = g.pick([
        "%00",
        "..%2F..%2Fetc",
        "%E0%A4%A",
        "x".repeat(g.int(65, 5000)),
        "ex_%F0%9F%99%82",
        "wf_' OR 1=1 --",
        "%ff%fe",
        "-1",
        "0",
      ]);
      const segments = base.path.split("?")[0]!.split("/");
      const at = g.int(2, segments.length - 1);
      segments[at] = junk;
      return { ...base, path: segments.join("/"), label: kind };
    }
    case "junk-query": {
      const names = [...Object.keys(op.query), "limit", "cursor", "after"];
      const value = g.pick(["abc", "-1", "1e309", "NaN", "%00", "x".repeat(5000), "9".repeat(400), "[]", "{}", "%ff"]);
      return {
        ...base,
        path: `${base.path.split("?")[0]}?${g.pick(names)}=${value}&${g.pick(names)}=${value}`,
        label: kind,
      };
    }
    case "whole-body":
      return {
        ...base,
        headers: { ...bodyHeaders },
        body: JSON.stringify(g.pick([null, 42, "str", [], [1, 2], true])),
        label: kind,
      };
    case "idempotency-key": {
      // Junk keys, and a few real ones reused across different bodies: 400, 422 or 409, never a 5xx.
      const key = g.pick([
        "",
        " ",
        "x".repeat(256),
        "tab\there",
        "caf\u00e9",
        `reused-${g.int(1, 3)}`,
        `reused-${g.int(1, 3)}`,
      ]);
      return { ...base, headers: { ...base.headers, "idempotency-key": key }, label: kind };
    }
  }
}

/** What the gate counts, and its failures grouped by mutation and operation, each with a count and a first example. */
export class Tally {
  readonly counts = { sent: 0, s2xx: 0, s4xx: 0, s5xx: 0, problem: 0, owed: 0, owedMet: 0, closed: 0 };
  private readonly failed = new Map<string, { n: number; example: string }>();

  private fail(key: string, example: string): void {
    this.failed.set(key, { n: (this.failed.get(key)?.n ?? 0) + 1, example: this.failed.get(key)?.example ?? example });
  }

  /** One answer: no 5xx, problem+json on every 4xx, and the owed status where one is owed. */
  answered(req: Req, op: Op, status: number, contentType: string | null, text: string): void {
    this.counts.sent++;
    const key = `${req.label} ${op.method} ${op.path}`;
    const where = `${req.method} ${req.path.slice(0, 120)}`;
    if (status >= 500) {
      this.counts.s5xx++;
      this.fail(key, `${where} -> ${status} ${text.slice(0, 200)}`);
    } else if (status >= 400) {
      this.counts.s4xx++;
      let body: { status?: number } | null = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* reported below */
      }
      if (contentType === "application/problem+json" && body?.status === status) this.counts.problem++;
      else this.fail(key, `${where} -> ${status} not problem+json: ${text.slice(0, 120)}`);
    } else this.counts.s2xx++;
    if (req.expect !== undefined) {
      this.counts.owed++;
      if (status === req.expect) this.counts.owedMet++;
      else this.fail(key, `${where} -> ${status}, owed ${req.expect}`);
    }
  }

  /** A request that got no answer at all: the connection closed or reset before a status line. */
  unanswered(req: Req, op: Op, err: unknown): void {
    this.counts.sent++;
    this.counts.closed++;
    this.fail(
      `${req.label} ${op.method} ${op.path}`,
      `${req.method} ${req.path.slice(0, 120)} -> no answer: ${String(err)}`,
    );
  }

  failures(): string[] {
    return [...this.failed].map(([key, f]) => `${key}: ${f.n}x, e.g. ${f.example}`);
  }

  summary(ops: number, perRoute: number, seed: number): string {
    const c = this.counts;
    const problemShare = c.s4xx ? ((100 * c.problem) / c.s4xx).toFixed(1) : "100.0";
    return `${ops} operations x ${perRoute} valid + ${perRoute} mutated (seed ${seed}), ${c.sent} requests, ${c.s5xx} 5xx, ${c.closed} unanswered, ${problemShare}% of ${c.s4xx} 4xx problem+json, ${c.owedMet}/${c.owed} owed 413/415`;
  }
}

/**
 * The documented operations the gate sends requests to (streams, the HTML reference page and the approval pages,
 * which answer people in HTML, are other tests').
 */
export function fuzzedOperations(ops: Op[]): Op[] {
  const kept = ops.filter((o) => !o.path.endsWith("/stream") && o.path !== "/docs" && !o.path.startsWith("/approve/"));
  // Deleting an object early would turn the rest of its routes into plain 404s: deletes go last.
  return kept.sort((a, b) => Number(a.method === "DELETE") - Number(b.method === "DELETE"));
}

export type { JsonSchema };

import type { Context } from "hono";
import type { z } from "zod";
import { zodErrors } from "../engine/dag";
import { config } from "../env";
import { readCapped } from "../lib/stream";
import type { AppEnv } from "./context";
import { AppError } from "./errors";

/**
 * Read a JSON body with a size cap, then validate it. 415 for a non-JSON content type, 413 past the cap,
 * 400 `invalid_json` for unparsable bytes, 400 `validation_failed` with every `{path, message}`.
 */
export async function readJson<S extends z.ZodType>(
  c: Context<AppEnv>,
  schema: S,
  maxBytes?: number,
): Promise<{ value: z.output<S>; raw: unknown; bytes: number }> {
  const limit = maxBytes ?? config(c.env).MAX_BODY_BYTES;
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(type)) {
    throw new AppError(415, "unsupported_media_type", "Send the body as application/json.");
  }
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const bytes = await readCapped(c.req.raw.body, limit);
  if (!bytes) throw tooLarge(limit);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch (err) {
    throw new AppError(
      400,
      "invalid_json",
      `The body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (jsonDepth(raw) > MAX_JSON_DEPTH) {
    throw new AppError(
      400,
      "json_too_deep",
      `The body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`,
    );
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new AppError(400, "validation_failed", "The request body is invalid.", { errors: zodErrors(parsed.error) });
  return { value: parsed.data, raw, bytes: bytes.byteLength };
}

/** Validate query parameters against a schema; failures are 400 `validation_failed`. */
export function readQuery<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success)
    throw new AppError(400, "validation_failed", "The query parameters are invalid.", {
      errors: zodErrors(parsed.error),
    });
  return parsed.data;
}

/**
 * Deeper than this, a body is refused: inputs and payloads travel through structured clone, JSONata and
 * JSON.stringify, each of which recurses and would overflow the stack on a body nested tens of thousands deep.
 */
export const MAX_JSON_DEPTH = 64;

/** How deeply `value` nests arrays and objects, counted without recursion (a deep value cannot overflow it). */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== "object") continue;
    max = Math.max(max, depth + 1);
    if (max > MAX_JSON_DEPTH) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}

function tooLarge(limit: number): AppError {
  return new AppError(413, "body_too_large", `The body exceeds ${limit} bytes.`);
}

// Node outputs too big for a row (SQLite and D1 rows hold at most 2 MB): written to R2 (ARTIFACTS) under a key per
// execution, node and attempt, referenced from the node, and read back when an expression needs them.
import type { NodeRecord } from "../db/execution-store";
import { sha256Hex } from "../lib/hash";
import type { RunResult } from "../nodes/types";

/** What a node's output holds once the value itself lives in R2. */
export interface OutputRef {
  $ref: string;
  bytes: number;
  sha256: string;
}

const SCHEME = "r2://";

export function isOutputRef(value: unknown): value is OutputRef {
  const v = value as Partial<OutputRef> | null;
  return (
    !!v &&
    typeof v === "object" &&
    typeof v.$ref === "string" &&
    v.$ref.startsWith(SCHEME) &&
    typeof v.bytes === "number"
  );
}

export const refKey = (ref: OutputRef): string => ref.$ref.slice(SCHEME.length);
const prefixOf = (executionId: string) => `executions/${executionId}/`;

/** R2 bytes the execution's node outputs hold: what counts against OUTPUT_BUDGET_BYTES. */
export function storedBytes(nodes: Iterable<NodeRecord>): number {
  let total = 0;
  for (const n of nodes) if (isOutputRef(n.output)) total += n.output.bytes;
  return total;
}

/**
 * Keep a successful attempt's output inline when its JSON is at most `inline` bytes; otherwise write it to R2 and
 * return the reference as the output. Past the execution's budget the attempt fails (fatal); a failed write is a
 * retryable failure of the attempt, so nothing is recorded that was not stored.
 */
export async function storeOutput(
  bucket: R2Bucket,
  executionId: string,
  nodeId: string,
  attempt: number,
  result: RunResult,
  limits: { inline: number; budget: number; stored: () => number },
): Promise<RunResult> {
  if (!("ok" in result) || !result.ok) return result;
  const text = JSON.stringify(result.output ?? null);
  // A UTF-16 unit is at most 3 bytes of UTF-8: short text needs no encoding to know it fits.
  if (text.length * 3 <= limits.inline) return result;
  const body = new TextEncoder().encode(text);
  if (body.byteLength <= limits.inline) return result;
  const stored = limits.stored();
  if (stored + body.byteLength > limits.budget) {
    const message = `output of ${body.byteLength} bytes would take this execution's stored outputs past OUTPUT_BUDGET_BYTES (${limits.budget}; ${stored} used)`;
    return { ok: false, error: { code: "output_budget_exceeded", message, retryable: false } };
  }
  const key = `${prefixOf(executionId)}${nodeId}/${attempt}`;
  const sha256 = await sha256Hex(text);
  try {
    await bucket.put(key, body, { httpMetadata: { contentType: "application/json" }, customMetadata: { sha256 } });
  } catch (err) {
    return {
      ok: false,
      error: {
        code: "output_store_failed",
        message: `writing the output to R2 failed: ${String(err)}`,
        retryable: true,
      },
    };
  }
  // What else the attempt said of its output (its result key, its request's hash) stays with the reference.
  return { ...result, output: { $ref: `${SCHEME}${key}`, bytes: body.byteLength, sha256 } satisfies OutputRef };
}

/** The value a reference points at; undefined when the object is gone. */
export async function loadOutput(bucket: R2Bucket, ref: OutputRef): Promise<unknown> {
  const object = await bucket.get(refKey(ref));
  return object ? JSON.parse(await object.text()) : undefined;
}

/** Delete every stored output of an execution (retention and erasure), a listing page at a time. */
export async function deleteOutputs(bucket: R2Bucket, executionId: string): Promise<void> {
  for (;;) {
    const page = await bucket.list({ prefix: prefixOf(executionId), limit: 1000 });
    if (page.objects.length === 0) return;
    await bucket.delete(page.objects.map((o) => o.key));
    if (!page.truncated) return;
  }
}

// Files a node returns (its definition's `artifacts` template renders to [{path, content}]): written to R2 under the
// execution's prefix when the node succeeds (so retention and erasure delete them with its outputs), listed, and
// streamed as one zip (fflate) a file at a time.
import { Zip, ZipDeflate } from "fflate";
import type { NodeDef } from "../engine/dag";
import type { ExprContext } from "../engine/expr";
import { renderAfterSuccess } from "./attempt";
import { FatalError, type RunResult } from "../nodes/types";

export interface ArtifactFile {
  path: string;
  content: string;
}

export interface ArtifactEntry {
  node_id: string;
  path: string;
  bytes: number;
}

export const MAX_ARTIFACTS_PER_NODE = 1000;
const prefixOf = (executionId: string) => `executions/${executionId}/artifacts/`;

/** A relative path with no `..`, no empty or dot segment and no backslash: safe as a zip entry and an R2 key. */
export function artifactPathProblem(path: unknown): string | null {
  if (typeof path !== "string" || path.length === 0 || path.length > 512) return "a path is 1 to 512 characters";
  if (path.startsWith("/") || path.includes("\\")) return "a path is relative and uses /";
  if (path.split("/").some((s) => s === "" || s === "." || s === "..")) return "a path has no empty, . or .. segment";
  return null;
}

/** The node's rendered `artifacts` over its own output too; a list that is not files fails the attempt. */
export async function renderArtifacts(node: NodeDef, ctx: ExprContext, result: RunResult): Promise<ArtifactFile[]> {
  if (!node.artifacts || !("ok" in result) || !result.ok) return [];
  const value = await renderAfterSuccess(node.artifacts, node.id, ctx, result.output, "artifacts");
  const list = Array.isArray(value) ? value : value && typeof value === "object" ? [value] : null;
  if (!list)
    throw new FatalError(
      "invalid_artifacts",
      `artifacts rendered ${JSON.stringify(value)?.slice(0, 200)}; expected [{path, content}]`,
    );
  if (list.length > MAX_ARTIFACTS_PER_NODE)
    throw new FatalError(
      "invalid_artifacts",
      `artifacts: ${list.length} files; a node returns at most ${MAX_ARTIFACTS_PER_NODE}`,
    );
  const seen = new Set<string>();
  return list.map((f: unknown, i) => {
    const file = f as Partial<ArtifactFile> | null;
    const problem =
      artifactPathProblem(file?.path) ?? (typeof file?.content === "string" ? null : "content is a string");
    if (problem) throw new FatalError("invalid_artifacts", `artifacts[${i}]: ${problem}`);
    if (seen.has(file!.path!))
      throw new FatalError("invalid_artifacts", `artifacts[${i}]: ${file!.path} is listed twice`);
    seen.add(file!.path!);
    return { path: file!.path!, content: file!.content! };
  });
}

/**
 * Replace the node's files in R2 with these (a retry or redrive leaves no file of an earlier attempt behind). A failed
 * write fails the attempt as retryable, so a node is never recorded as having files it does not have.
 */
export async function storeArtifacts(
  bucket: R2Bucket,
  executionId: string,
  nodeId: string,
  files: ArtifactFile[],
): Promise<RunResult | null> {
  const prefix = `${prefixOf(executionId)}${nodeId}/`;
  try {
    await deletePrefix(bucket, prefix);
    for (const f of files)
      await bucket.put(`${prefix}${f.path}`, f.content, { customMetadata: { node_id: nodeId, path: f.path } });
    return null;
  } catch (err) {
    const message = `writing the artifacts to R2 failed: ${String(err)}`;
    return { ok: false, error: { code: "artifact_store_failed", message, retryable: true } };
  }
}

async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<void> {
  for (;;) {
    const page = await bucket.list({ prefix, limit: 1000 });
    if (page.objects.length === 0) return;
    await bucket.delete(page.objects.map((o) => o.key));
    if (!page.truncated) return;
  }
}

function entryOf(executionId: string, o: R2Object): ArtifactEntry {
  const rest = o.key.slice(prefixOf(executionId).length);
  const slash = rest.indexOf("/");
  return { node_id: rest.slice(0, slash), path: rest.slice(slash + 1), bytes: o.size };
}

/** Every file of the execution's nodes, by node then path, a listing page at a time. */
export async function* artifactPages(bucket: R2Bucket, executionId: string): AsyncGenerator<ArtifactEntry[]> {
  let cursor: string | undefined;
  for (;;) {
    const page = await bucket.list({ prefix: prefixOf(executionId), limit: 1000, ...(cursor ? { cursor } : {}) });
    yield page.objects.map((o) => entryOf(executionId, o));
    if (!page.truncated) return;
    cursor = page.cursor;
  }
}

/**
 * The execution's files as one zip, entries `<node>/<path>`, read from R2 and compressed one file per pull: the
 * archive is never held whole.
 */
export function artifactsZip(bucket: R2Bucket, executionId: string): ReadableStream<Uint8Array> {
  const pages = artifactPages(bucket, executionId);
  let queue: ArtifactEntry[] = [];
  let done = false;
  let out: ReadableStreamDefaultController<Uint8Array>;
  let emitted = 0;
  const zip = new Zip((err, chunk, final) => {
    if (err) return out.error(err);
    emitted++;
    out.enqueue(chunk);
    if (final) out.close();
  });
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        out = controller;
      },
      // Each pull adds files until one produced bytes (a pull that enqueues nothing would not be called again).
      async pull() {
        for (const before = emitted; emitted === before;) {
          while (queue.length === 0 && !done) {
            const next = await pages.next();
            if (next.done) done = true;
            else queue = next.value;
          }
          const entry = queue.shift();
          if (!entry) return zip.end();
          const object = await bucket.get(`${prefixOf(executionId)}${entry.node_id}/${entry.path}`);
          // Deleted between the listing and now (an erase): left out rather than failing the whole archive.
          if (!object) continue;
          const file = new ZipDeflate(`${entry.node_id}/${entry.path}`, { level: 6 });
          zip.add(file);
          file.push(new Uint8Array(await object.arrayBuffer()), true);
        }
      },
    },
    { highWaterMark: 0 },
  );
}

// `edgeflow run <workflow> --batch <file>`: start one execution per line of an NDJSON file through the batch start
// endpoint, at most 1,000 items a request, with a progress bar. Items without an idempotency_key get one derived
// from the file's name and their line's content, so running the same file again after an interruption replays what
// already started instead of starting it twice.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { ApiError, NetworkError } from "./client.mjs";
import { progressBar } from "./progress.mjs";
import { UsageError } from "./usage-error.mjs";

/** The server's cap on items per request. */
const MAX_ITEMS = 1000;
/** Bytes per request, well under the server's default body limit (8 MiB); a 413 halves the chunk anyway. */
const MAX_BYTES = 4 * 1024 * 1024;
const RETRIES = 5;

/**
 * The file's items: one JSON object per non-empty line, as the batch endpoint takes it ({input, idempotency_key,
 * tags, metadata, timeout_seconds}). A line that is not a JSON object stops everything before a request is sent.
 */
export function readItems(path, workflowId) {
  let text;
  try {
    text = path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${err.code ?? err.message}`);
  }
  // Keys are scoped to the file's name: the same line in another file is another item.
  const scope = path === "-" ? "-" : basename(path);
  const seen = new Map();
  const items = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let item;
    try {
      item = JSON.parse(line);
    } catch {
      throw new UsageError(`${path}:${i + 1} is not valid JSON`);
    }
    if (item === null || typeof item !== "object" || Array.isArray(item))
      throw new UsageError(`${path}:${i + 1} is not a JSON object (each line is one item: {"input": …})`);
    if (item.idempotency_key === undefined) {
      // The nth line with this content keeps its key wherever it moves in the file.
      const n = (seen.get(line) ?? 0) + 1;
      seen.set(line, n);
      const digest = createHash("sha256").update(`${workflowId}\n${scope}\n${n}\n${line}`).digest("hex");
      item = { ...item, idempotency_key: `cli-batch-${digest.slice(0, 40)}` };
    }
    items.push({ line: i + 1, item });
  });
  if (items.length === 0) throw new UsageError(`${path} has no items (one JSON object per line)`);
  return items;
}

/** Consecutive items in requests of at most MAX_ITEMS items and about MAX_BYTES bytes. */
function chunksOf(items) {
  const chunks = [];
  let chunk = [];
  let bytes = 0;
  for (const it of items) {
    const size = Buffer.byteLength(JSON.stringify(it.item)) + 1;
    if (chunk.length > 0 && (chunk.length === MAX_ITEMS || bytes + size > MAX_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(it);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Send every chunk in order and print each item's fate: its execution id and status on stdout, a refusal with its
 * line on stderr. Returns the exit code: 0 when every item started (created or replayed), 1 when any was refused.
 */
export async function runBatch(api, workflowId, path) {
  const items = readItems(path, workflowId);
  // Pinned once, so a version published mid-batch does not split the batch, and a re-run hashes the same.
  const { version } = await api.get(`/v1/workflows/${workflowId}`);
  const progress = progressBar(
    items.length,
    (t) => `${t.created} created, ${t.replayed} replayed, ${t.refused} refused`,
  );
  const totals = { created: 0, replayed: 0, refused: 0 };
  let done = 0;
  const pending = chunksOf(items);
  while (pending.length > 0) {
    const chunk = pending.shift();
    let answer;
    try {
      answer = await send(api, workflowId, version, chunk, progress);
    } catch (err) {
      // Too large for this server's body limit: halve it; one item alone that is still too large is refused.
      if (err instanceof ApiError && err.status === 413 && chunk.length > 1) {
        const half = Math.ceil(chunk.length / 2);
        pending.unshift(chunk.slice(0, half), chunk.slice(half));
        continue;
      }
      if (err instanceof ApiError && err.status === 413) {
        answer = { items: [{ index: 0, status: "refused", error: { code: err.code, message: err.detail } }] };
      } else {
        progress.clear();
        console.error(`stopped after ${done} of ${items.length} items; run the same command again to resume`);
        throw err;
      }
    }
    progress.clear();
    for (const a of answer.items) {
      const { line } = chunk[a.index];
      totals[a.status] += 1;
      if (a.status === "refused") {
        const where = (a.error.errors ?? []).map((e) => `; at ${e.path || "(item)"}: ${e.message}`).join("");
        console.error(`line ${line}: refused ${a.error.code}: ${a.error.message}${where}`);
      } else console.log(`${a.id} ${a.status}`);
    }
    done += chunk.length;
    progress.draw(done, totals);
  }
  progress.end(done, totals);
  console.error(
    `${workflowId} v${version}: ${totals.created} created, ${totals.replayed} replayed, ${totals.refused} refused`,
  );
  return totals.refused > 0 ? 1 : 0;
}

/** One request, retried when the API asks to wait (429, 503) or cannot be reached: every item has its key. */
async function send(api, workflowId, version, chunk, progress) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.postNow(`/v1/workflows/${workflowId}/executions/batch`, {
        version,
        items: chunk.map((c) => c.item),
      });
    } catch (err) {
      const waits = err instanceof ApiError && (err.status === 429 || err.status === 503);
      if (attempt > RETRIES || !(waits || err instanceof NetworkError)) throw err;
      const seconds = err.retryAfter ?? Math.min(2 ** attempt, 30);
      progress.clear();
      console.error(`${waits ? err.code : "unreachable"}: trying again in ${seconds} s (attempt ${attempt + 1})`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
  }
}

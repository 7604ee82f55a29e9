import { Hono } from "hono";
import { z } from "zod";
import { RESULT_NAME } from "../engine/dag";
import { listResults, type ResultCursor, type ResultFilter, type ResultRow } from "../db/results-repo";
import type { Db } from "../db/client";
import { isOutputRef } from "../durable/outputs";
import { decodeKeyset, encodeKeyset } from "../lib/cursor";
import { readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { iso, limitParam } from "./shared";

const isoTime = z.iso.datetime({ offset: true }).transform((v) => Date.parse(v));

const cursorParam = z
  .string()
  .max(1024)
  .optional()
  .transform((raw, ctx): ResultCursor | null => {
    if (!raw) return null;
    try {
      const v = decodeKeyset(raw);
      if (typeof v[0] === "number" && typeof v[1] === "string" && typeof v[2] === "string")
        return { created_at: v[0], execution_id: v[1], node_id: v[2] };
    } catch {
      // reported below
    }
    ctx.addIssue({ code: "custom", message: "malformed cursor" });
    return z.NEVER;
  });

const encodeCursor = (r: ResultRow) => encodeKeyset([r.created_at, r.execution_id, r.node_id]);

const filterFields = {
  workflow_id: z.string().min(1).max(64).optional(),
  /** The same as workflow_id; either spelling is accepted. */
  workflow: z.string().min(1).max(64).optional(),
  name: z.string().regex(RESULT_NAME, "must be a result name (a slug)").optional(),
  key: z.string().min(1).max(512).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
};
export const listResultsQuery = z.object({ ...filterFields, cursor: cursorParam, limit: limitParam });
export const exportResultsQuery = z.object({ ...filterFields, format: z.enum(["ndjson", "csv"]).default("ndjson") });

/** Every accepted filter starts with the workflow or the name, so the query runs on one of the results indexes. */
function filterOf(q: z.output<typeof listResultsQuery> | z.output<typeof exportResultsQuery>): ResultFilter {
  const workflowId = q.workflow_id ?? q.workflow;
  if (!workflowId && !q.name)
    throw new AppError(400, "validation_failed", "The query parameters are invalid.", {
      errors: [{ path: "name", message: "give name, workflow_id, or both: results are listed by one of them" }],
    });
  return { workflow_id: workflowId, name: q.name, key: q.key, since: q.since, until: q.until };
}

/** A result as the API shows it; a value too big for a row is a reference to the node output that holds it. */
export function resultView(r: ResultRow) {
  const ref = isOutputRef(r.value) ? r.value : null;
  return {
    workflow_id: r.workflow_id,
    name: r.name,
    key: r.key,
    execution_id: r.execution_id,
    node_id: r.node_id,
    created_at: iso(r.created_at),
    value: ref ? null : r.value,
    ...(ref
      ? {
          value_ref: {
            bytes: ref.bytes,
            sha256: ref.sha256,
            href: `/v1/executions/${r.execution_id}/nodes/${r.node_id}/output`,
          },
        }
      : {}),
  };
}

const CSV_COLUMNS = ["created_at", "workflow_id", "name", "key", "execution_id", "node_id", "value"] as const;

function csvCell(v: unknown): string {
  const text = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(view: ReturnType<typeof resultView>): string {
  const value = view.value_ref ?? view.value;
  return CSV_COLUMNS.map((c) => csvCell(c === "value" ? value : view[c])).join(",") + "\r\n";
}

const EXPORT_PAGE = 500;

/**
 * Every result matching `f`, read a page at a time as the client takes them: the set is never held whole, and an
 * export longer than one request's time keeps going page by page for as long as the client reads.
 */
function exportStream(db: Db, tenantId: string, f: ResultFilter, format: "ndjson" | "csv"): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let cursor: ResultCursor | null = null;
  let headerSent = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const rows = await listResults(db, tenantId, f, cursor, EXPORT_PAGE);
        let text = "";
        if (format === "csv" && !headerSent) text += CSV_COLUMNS.join(",") + "\r\n";
        headerSent = true;
        for (const r of rows) text += format === "csv" ? csvLine(resultView(r)) : JSON.stringify(resultView(r)) + "\n";
        if (text) controller.enqueue(encoder.encode(text));
        const last = rows.at(-1);
        if (rows.length < EXPORT_PAGE || !last) controller.close();
        else cursor = { created_at: last.created_at, execution_id: last.execution_id, node_id: last.node_id };
      },
    },
    { highWaterMark: 0 },
  );
}

/** /v1/results: what workflows produce, by name and key, newest first; and its export. */
export const resultsRoute = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = readQuery(c, listResultsQuery);
    const rows = await listResults(c.get("history").db, c.get("tenantId"), filterOf(q), q.cursor, q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return c.json({
      data: page.map(resultView),
      next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null,
    });
  })
  .get("/export", (c) => {
    const q = readQuery(c, exportResultsQuery);
    const csv = q.format === "csv";
    return new Response(exportStream(c.get("history").db, c.get("tenantId"), filterOf(q), q.format), {
      headers: {
        "content-type": csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
        "content-disposition": `attachment; filename="results.${q.format}"`,
      },
    });
  });

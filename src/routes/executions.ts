import { Hono } from "hono";
import { z } from "zod";
import * as history from "../db/history-repo";
import { executionStub, settledOf, snapshotOf } from "../durable/client";
import { isOutputRef, refKey } from "../durable/outputs";
import { artifactPages, artifactsZip, type ArtifactEntry } from "../durable/artifacts";
import { eraseExecution } from "../services/erase";
import { forkExecution } from "../services/fork";
import { diffRuns } from "../engine/run-diff";
import { errorOf } from "../durable/view";
import { EXECUTION_STATUSES, type EventEnvelope } from "../engine/events";
import { ITEM_STATUSES } from "../engine/map";
import type { ItemRecord } from "../db/map-store";
import { encodeCursor } from "../lib/cursor";
import { inBatches } from "../lib/batches";
import { canonicalHash } from "../lib/hash";
import { isId } from "../lib/ids";
import { MAX_PREFER_WAIT_SECONDS, preferredWait } from "../lib/prefer";
import { readJson, readQuery } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { refusal } from "./refusals";
import { cursorParam, idempotencyKeyOf, iso, limitParam } from "./shared";

const isoTime = z.iso.datetime({ offset: true }).transform((v) => Date.parse(v));
export const executionFilter = z.object({
  workflow_id: z.string().max(64).optional(),
  version: z.coerce.number().int().min(1).optional(),
  status: z.enum(EXECUTION_STATUSES).optional(),
  created_after: isoTime.optional(),
  created_before: isoTime.optional(),
  tag: z.string().max(64).optional(),
  metadata: z
    .string()
    .regex(/^[\w.-]{1,64}:.{0,256}$/, "expected key:value")
    .transform((v) => [v.slice(0, v.indexOf(":")), v.slice(v.indexOf(":") + 1)] as [string, string])
    .optional(),
});
export const listExecutionsQuery = executionFilter.extend({ cursor: cursorParam, limit: limitParam });
export const bulkBody = z
  .object({ filter: executionFilter.strict(), limit: z.number().int().min(1).max(1000).default(100) })
  .strict();
export const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const redriveBody = z
  .object({
    from_node: z.string().min(1).max(64).optional(),
    input_patch: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const eventBody = z.object({ name: z.string().min(1).max(128), payload: z.unknown().optional() }).strict();
export const forkBody = z
  .object({
    from_node: z.string().min(1).max(128),
    output_patch: z.unknown().optional(),
    input_patch: z.record(z.string(), z.unknown()).optional(),
    effects: z.enum(["mock", "allow"]).default("mock"),
    label: z.string().min(1).max(200).optional(),
  })
  .strict();
export const diffQuery = z.object({ against: z.string().min(1).max(64) });
export const cancelBody = z.object({ reason: z.string().max(1000).optional() }).strict();
export const itemsQuery = z.object({
  status: z.enum(ITEM_STATUSES).optional(),
  after: z.coerce.number().int().min(-1).default(-1),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

function executionNotFound(id: string): AppError {
  return new AppError(404, "execution_not_found", `Execution ${id} does not exist.`);
}

function finished(id: string, status: string): AppError {
  return new AppError(409, "execution_finished", `Execution ${id} has already finished with status ${status}.`, {
    execution_status: status,
  });
}

function executionId(id: string): string {
  if (!isId("ex", id)) throw executionNotFound(id);
  return id;
}

/** The same Idempotency-Key sent with another request than the one it was first used for. */
const keyReused = (what: string) =>
  refusal({
    code: "idempotency_key_reused",
    message: `This Idempotency-Key was used with a different ${what}.`,
    retryable: false,
  });

/** /v1/executions: history, one execution, its events, outputs and items, and what can be done to it. */
export const executions = new Hono<AppEnv>()
  .get("/", async (c) => {
    const q = readQuery(c, listExecutionsQuery);
    const rows = await history.listExecutions(c.get("history").db, c.get("tenantId"), q, q.cursor, q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return c.json({
      data: page.map((e) => ({
        id: e.id,
        workflow_id: e.workflow_id,
        version: e.version,
        status: e.status,
        error: errorOf(e.error_code, e.error_message),
        created_at: iso(e.created_at),
        started_at: iso(e.started_at),
        finished_at: iso(e.finished_at),
      })),
      next_cursor: rows.length > q.limit && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null,
    });
  })
  .get("/counts", async (c) => {
    const q = readQuery(c, executionFilter);
    const rows = await history.countExecutionsByStatus(c.get("history").db, c.get("tenantId"), q);
    const counts = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<string, number>;
    for (const r of rows) counts[r.status] = Number(r.n);
    return c.json({ counts, total: rows.reduce((sum, r) => sum + Number(r.n), 0) });
  })
  .post("/bulk/:action{cancel|redrive|delete}", async (c) => {
    // Bulk actions act on at most `limit` executions matching the filter (one indexed query), six RPCs at a time.
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, bulkBody);
    const action = c.req.param("action") as "cancel" | "redrive" | "delete";
    const tenantId = c.get("tenantId");
    const bodyHash = await canonicalHash(value);
    const rows = await history.listExecutions(c.get("history").db, tenantId, value.filter, null, value.limit);
    const results = await inBatches(rows, 6, async (e) => {
      const stub = executionStub(c.env, e.id);
      if (action === "delete")
        return { id: e.id, changed: (await eraseExecution(c.env, c.get("history").db, tenantId, e.id)).ok };
      // With a key, an execution this request redrove is not redriven again by its retry (a space: no client's key).
      const once = key === undefined ? undefined : { key: `bulk ${key}`, hash: bodyHash };
      const r =
        action === "cancel" ? await stub.cancel(tenantId, "bulk cancel") : await stub.redrive(tenantId, {}, once);
      return { id: e.id, changed: Boolean(r && ("changed" in r ? r.changed : r.ok)) };
    });
    const done = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    return c.json({
      matched: rows.length,
      changed: done.filter((d) => d.changed).map((d) => d.id),
      unchanged: done.filter((d) => !d.changed).map((d) => d.id),
      failed: results.flatMap((r, i) =>
        r.status === "rejected" ? [{ id: rows[i]?.id, error: String(r.reason) }] : [],
      ),
    });
  })
  .get("/:id", async (c) => {
    const id = executionId(c.req.param("id"));
    // With Prefer: wait=N, the execution once it settled (or as it is when N ran out), not a poll.
    const wait = preferredWait(c.req.header("prefer"), MAX_PREFER_WAIT_SECONDS);
    const view =
      wait === null
        ? await snapshotOf(c.env, id, c.get("tenantId"))
        : await settledOf(c.env, id, c.get("tenantId"), wait * 1000);
    if (!view) throw executionNotFound(id);
    if (wait !== null) c.header("preference-applied", `wait=${wait}`);
    return c.json(view);
  })
  .get("/:id/events", async (c) => {
    const id = executionId(c.req.param("id"));
    const q = readQuery(c, eventsQuery);
    // Rpc's serialisable-type mapping turns `unknown` payloads into `never`; the value itself is plain JSON.
    const events = (await executionStub(c.env, id).events(c.get("tenantId"), q.after, q.limit)) as
      EventEnvelope[] | null;
    if (!events) throw executionNotFound(id);
    return c.json({ data: events, next_after: events.at(-1)?.seq ?? q.after });
  })
  .get("/:id/nodes/:node_id/output", async (c) => {
    const id = executionId(c.req.param("id"));
    const nodeId = c.req.param("node_id");
    const found = (await executionStub(c.env, id).nodeOutput(c.get("tenantId"), nodeId)) as {
      node: boolean;
      status: string | null;
      output: unknown;
    } | null;
    if (!found) throw executionNotFound(id);
    if (!found.node) throw new AppError(404, "node_not_found", `Execution ${id} has no node "${nodeId}".`);
    if (found.status !== "succeeded")
      throw new AppError(
        409,
        "output_not_ready",
        `Node "${nodeId}" is ${found.status}; only a succeeded node has an output.`,
        { node_status: found.status },
      );
    if (!isOutputRef(found.output)) return c.json(found.output);
    // The whole value, streamed from R2 as it was stored (the execution view shows only the reference).
    const object = await c.env.ARTIFACTS.get(refKey(found.output));
    if (!object) throw new AppError(410, "output_missing", `The stored output of node "${nodeId}" is gone.`);
    return c.body(object.body, 200, {
      "content-type": "application/json",
      "content-length": String(object.size),
      etag: object.httpEtag,
    });
  })
  .get("/:id/artifacts", async (c) => {
    const id = executionId(c.req.param("id"));
    if (!(await executionStub(c.env, id).owns(c.get("tenantId")))) throw executionNotFound(id);
    const data: ArtifactEntry[] = [];
    for await (const page of artifactPages(c.env.ARTIFACTS, id)) data.push(...page);
    return c.json({ data, zip: `/v1/executions/${id}/artifacts.zip` });
  })
  .get("/:id/artifacts.zip", async (c) => {
    const id = executionId(c.req.param("id"));
    if (!(await executionStub(c.env, id).owns(c.get("tenantId")))) throw executionNotFound(id);
    return c.body(artifactsZip(c.env.ARTIFACTS, id), 200, {
      "content-type": "application/zip",
      "content-disposition": `attachment; filename="${id}-artifacts.zip"`,
    });
  })
  .get("/:id/nodes/:node_id/items", async (c) => {
    const id = executionId(c.req.param("id"));
    const q = readQuery(c, itemsQuery);
    const page = (await executionStub(c.env, id).mapItems(
      c.get("tenantId"),
      c.req.param("node_id"),
      q.status ?? null,
      q.after,
      q.limit,
    )) as { node: boolean; items: ItemRecord[] } | null;
    if (!page) throw executionNotFound(id);
    if (!page.node)
      throw new AppError(404, "map_node_not_found", `Execution ${id} has no map node "${c.req.param("node_id")}".`);
    return c.json({
      data: page.items.map((i) => ({
        index: i.idx,
        status: i.status,
        attempts: i.attempt,
        item: i.item ?? null,
        output: i.output ?? null,
        error: errorOf(i.error_code, i.error_message),
        started_at: iso(i.started_at),
        finished_at: iso(i.finished_at),
        next_attempt_at: i.status === "retrying" ? iso(i.due_at) : null,
        waiting_for: i.status === "waiting" ? i.wait_event : null,
      })),
      next_after: page.items.length === q.limit ? (page.items.at(-1) as ItemRecord).idx : null,
    });
  })
  .delete("/:id", async (c) => {
    const id = executionId(c.req.param("id"));
    let result: Awaited<ReturnType<typeof eraseExecution>>;
    try {
      result = await eraseExecution(c.env, c.get("history").db, c.get("tenantId"), id);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new AppError(
        503,
        "erase_incomplete",
        `Erasing ${id} did not finish (${why}). Send the same DELETE again to complete it.`,
        { headers: { "retry-after": "1" } },
      );
    }
    if (!result.ok) throw executionNotFound(id);
    return c.body(null, 204);
  })
  .post("/:id/cancel", async (c) => {
    const id = executionId(c.req.param("id"));
    const body =
      c.req.header("content-length") === "0" || !c.req.header("content-type")
        ? {}
        : (await readJson(c, cancelBody)).value;
    const result = await executionStub(c.env, id).cancel(c.get("tenantId"), body.reason ?? null);
    if (!result) throw executionNotFound(id);
    if (!result.changed) throw finished(id, result.status);
    return c.json({ id, status: result.status });
  })
  .post("/:id/redrive", async (c) => {
    const id = executionId(c.req.param("id"));
    const key = idempotencyKeyOf(c);
    const body = c.req.header("content-type") ? (await readJson(c, redriveBody)).value : {};
    const once = key === undefined ? undefined : { key, hash: await canonicalHash(body) };
    const result = await executionStub(c.env, id).redrive(c.get("tenantId"), body, once);
    if (!result) throw executionNotFound(id);
    if ("reused" in result) throw keyReused("redrive (from_node or input_patch)");
    if (!result.ok) {
      if (result.code === "unknown_node")
        throw new AppError(400, "validation_failed", result.message, {
          errors: [{ path: "from_node", message: result.message }],
        });
      throw new AppError(409, result.code, `Execution ${id} cannot be redriven: ${result.message}.`);
    }
    if (result.replayed) c.header("idempotent-replayed", "true");
    return c.json({ id, status: result.status });
  })
  .get("/:id/diff", async (c) => {
    const id = executionId(c.req.param("id"));
    const { against } = readQuery(c, diffQuery);
    const tenantId = c.get("tenantId");
    const [current, other] = await Promise.all([
      snapshotOf(c.env, id, tenantId),
      isId("ex", against) ? snapshotOf(c.env, against, tenantId) : null,
    ]);
    if (!current) throw executionNotFound(id);
    if (!other)
      throw new AppError(404, "execution_not_found", `Execution ${against} does not exist.`, {
        errors: [{ path: "against", message: "an execution of this tenant" }],
      });
    const cost = (v: typeof current) => v.usage.cost_usd;
    return c.json({
      id,
      against,
      nodes: diffRuns(current.nodes, other.nodes),
      cost_usd: { this: cost(current), against: cost(other), difference: cost(current) - cost(other) },
      llm_calls: { this: current.usage.llm_calls, against: other.usage.llm_calls },
    });
  })
  .post("/:id/forks", async (c) => {
    const key = idempotencyKeyOf(c);
    const id = executionId(c.req.param("id"));
    const { value } = await readJson(c, forkBody);
    const answer = await forkExecution(c.env, c.get("db").db, c.get("tenantId"), id, value, key);
    if (!answer.ok) {
      if ("notFound" in answer) throw executionNotFound(id);
      if ("refusal" in answer) throw refusal(answer.refusal);
      throw new AppError(422, answer.plan.code, answer.plan.message, { errors: answer.plan.errors });
    }
    const s = answer.started;
    if (s.replay) c.header("idempotent-replayed", "true");
    return c.json(
      {
        id: s.id,
        status: s.status,
        workflow_id: s.workflow_id,
        version: s.version,
        forked_from: id,
        fork_node: value.from_node,
        effects: value.effects,
        kept: answer.kept,
        rerun: answer.rerun,
      },
      s.replay ? 200 : 201,
      { location: `/v1/executions/${s.id}` },
    );
  })
  .post("/:id/pause", async (c) => {
    const id = executionId(c.req.param("id"));
    const result = await executionStub(c.env, id).pause(c.get("tenantId"));
    if (!result) throw executionNotFound(id);
    if (!result.changed)
      throw new AppError(
        409,
        "execution_not_running",
        `Execution ${id} is ${result.status}; only a queued or running execution can be paused.`,
        { execution_status: result.status },
      );
    return c.json({ id, status: result.status });
  })
  .post("/:id/resume", async (c) => {
    const id = executionId(c.req.param("id"));
    const result = await executionStub(c.env, id).resume(c.get("tenantId"));
    if (!result) throw executionNotFound(id);
    if (!result.changed)
      throw new AppError(409, "execution_not_paused", `Execution ${id} is ${result.status}, not paused.`, {
        execution_status: result.status,
      });
    return c.json({ id, status: result.status });
  })
  .post("/:id/events", async (c) => {
    const id = executionId(c.req.param("id"));
    const key = idempotencyKeyOf(c);
    const { value } = await readJson(c, eventBody);
    const payload = value.payload ?? null;
    // A retried event (a lost answer, a sender's retry loop) must not be received twice: a second copy would wait in
    // the inbox and satisfy a later wait for the same name.
    const once = key === undefined ? undefined : { key, hash: await canonicalHash({ name: value.name, payload }) };
    const result = await executionStub(c.env, id).sendEvent(c.get("tenantId"), value.name, payload, once);
    if (!result) throw executionNotFound(id);
    if ("reused" in result) throw keyReused("event (name or payload)");
    if ("unknown" in result) {
      const names = result.waits_for.length
        ? result.waits_for.map((n) => `"${n}"`).join(", ")
        : "none (it has no wait_for_event node)";
      throw new AppError(
        422,
        "unknown_event",
        `No wait_for_event node of execution ${id} waits for "${value.name}"; it waits for ${names}.`,
        {
          waits_for: result.waits_for,
          errors: [{ path: "name", message: `unknown event "${value.name}"` }],
        },
      );
    }
    if (!result.accepted) throw finished(id, result.status);
    if ("replayed" in result) c.header("idempotent-replayed", "true");
    return c.json({ id, name: value.name, delivered_to: result.delivered_to }, "replayed" in result ? 200 : 202);
  });

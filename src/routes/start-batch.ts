import type { Context } from "hono";
import { z } from "zod";
import { zodErrors, type FieldError } from "../engine/dag";
import type { QueueAsk } from "../engine/concurrency-key";
import { isLane, LANES } from "../engine/fair-share";
import {
  decideStart,
  refuse,
  type StartFacts,
  type StartPlan,
  type Started,
  type StartRefused,
} from "../engine/start-plan";
import { closeClaims, releaseClaims, type ClaimAsk } from "../db/start-reads";
import { openDb } from "../db/client";
import { tenantStub } from "../durable/client";
import { config } from "../env";
import { hashApiKey } from "../lib/api-keys";
import { newId } from "../lib/ids";
import { authenticate, presentedKey } from "../middleware/auth";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { rateHeaders, tokenAsk } from "../middleware/rate-limit";
import { logUnclosedClaims, queueAsk, requestHashOf, startFacts, startObject } from "../services/start";
import { refusal } from "./refusals";
import { mountParam } from "./shared";
import { askOf, readApiStart, startBody, takeToken } from "./start-request";

export const MAX_BATCH_ITEMS = 1000;
// Objects started at once: enough to overlap their round trips, few enough to leave the isolate room.
const START_CONCURRENCY = 50;

export const batchItem = startBody
  .omit({ version: true })
  .extend({
    idempotency_key: z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/, "1-255 visible ASCII characters")
      .optional(),
  })
  .strict();

export const batchBody = z
  .object({
    /** Every item starts this version (the latest when absent). */
    version: z.number().int().min(1).optional(),
    /** The lane of items that name none: batch unless said (interactive, default, batch). */
    lane: z.string().max(64).optional(),
    items: z.array(z.unknown()).min(1),
  })
  .strict();

export type BatchItemResult =
  | { index: number; status: "created" | "replayed"; id: string; execution_status: string }
  | {
      index: number;
      status: "refused";
      id?: string;
      error: { code: string; message: string; retryable: boolean; errors?: FieldError[] };
    };

interface Item {
  index: number;
  facts: StartFacts;
  decided: StartPlan | StartRefused;
}

/**
 * POST /v1/workflows/:id/executions/batch: start up to 1,000 executions of one workflow, each item with its own input
 * and Idempotency-Key, answered per item. Like a single start it authenticates itself: one D1 batch reads the key and
 * the workflow and claims every item's key, one TenantObject call takes the request's token and every new
 * execution's places in the queues (in item order), then the objects start. A malformed item is refused on its own
 * and the others go ahead; nothing is created for a batch that is too large, from an unknown workflow, or over the
 * rate limit.
 */
export async function startBatch(c: Context<AppEnv>): Promise<Response> {
  const presented = presentedKey(c);
  let body: z.output<typeof batchBody>;
  try {
    body = (await readJson(c, batchBody, config(c.env).MAX_BATCH_BODY_BYTES)).value;
    if (body.items.length > MAX_BATCH_ITEMS)
      throw new AppError(
        413,
        "batch_too_large",
        `A batch starts at most ${MAX_BATCH_ITEMS} executions; this one has ${body.items.length}.`,
      );
    // The batch's own lane is the whole request's: wrong, it refuses the batch (an item's own lane refuses the item).
    if (body.lane !== undefined && !isLane(body.lane))
      throw new AppError(422, "unknown_lane", `There is no lane "${body.lane}"; the lanes are ${LANES.join(", ")}.`, {
        errors: [{ path: "lane", message: `one of ${LANES.join(", ")}` }],
      });
  } catch (err) {
    await authenticate(c);
    await takeToken(c);
    throw err;
  }
  const workflowId = mountParam(c, "id");
  const parsed = body.items.map((raw) => batchItem.safeParse(raw));
  const proposed = parsed.map(() => newId("ex"));
  const version = body.version;
  const [keyHash, hashes] = await Promise.all([
    hashApiKey(presented.token),
    Promise.all(
      parsed.map((p) => {
        if (!p.success || p.data.idempotency_key === undefined) return null;
        const { idempotency_key: _key, ...one } = p.data;
        // Hashed as the same start through POST /executions would be, so the two replay each other.
        return requestHashOf(workflowId, version === undefined ? one : { ...one, version });
      }),
    ),
  ]);
  const claims: ClaimAsk[] = [];
  parsed.forEach((p, i) => {
    const hash = hashes[i];
    if (p.success && p.data.idempotency_key !== undefined && hash)
      claims.push({ key: p.data.idempotency_key, request_hash: hash, execution_id: proposed[i] as string });
  });
  const reads = await readApiStart(c, workflowId, version ?? null, keyHash, claims);
  const tenantId = c.get("tenantId");
  const items: Item[] = parsed.map((p, index) => {
    const key = p.success ? p.data.idempotency_key : undefined;
    const facts = startFacts(
      c.env,
      reads,
      key === undefined ? null : (reads.claims.get(key) ?? null),
      proposed[index] as string,
      hashes[index] ?? null,
    );
    if (!p.success)
      return {
        index,
        facts,
        decided: {
          ok: false,
          code: "validation_failed",
          message: "This item is invalid.",
          retryable: false,
          errors: zodErrors(p.error),
        },
      };
    const { idempotency_key: key_, ...one } = p.data;
    const ask = askOf(c, workflowId, { ...one, version, lane: one.lane ?? body.lane ?? "batch" }, key_, "join");
    return { index, facts, decided: decideStart(facts, ask) };
  });
  const db = c.get("db").db;
  const ours = (i: Item) => i.facts.claim !== null && i.facts.claim.execution_id === i.facts.proposedId;
  if (!reads.workflow) {
    await releaseClaims(
      db,
      tenantId,
      items.flatMap((i) => (ours(i) && i.facts.claim ? [i.facts.claim] : [])),
    );
    for (const [k, v] of Object.entries(await takeToken(c))) c.header(k, v);
    throw refusal(
      version === undefined
        ? refuse("workflow_not_found", `Workflow ${workflowId} does not exist.`)
        : refuse("version_not_found", `Workflow ${workflowId} has no version ${version}.`),
    );
  }
  // New executions first, in item order; a replay (its key met earlier, in this batch or before) after them.
  const planned = items.filter((i): i is Item & { decided: StartPlan } => i.decided.ok);
  const fresh = planned.filter((i) => !i.decided.replay);
  const queues = await Promise.all(fresh.map((i) => queueAsk(c.env, i.decided)));
  const ask = tokenAsk(c);
  const admitted = await tenantStub(c.env, tenantId).admitMany({
    token: ask,
    queues: queues.map((q) => q.ask as QueueAsk | null),
  });
  if (!admitted.token.allowed)
    await releaseClaims(
      db,
      tenantId,
      items.flatMap((i) => (ours(i) && i.facts.claim ? [i.facts.claim] : [])),
    );
  for (const [k, v] of Object.entries(rateHeaders(ask, admitted.token))) c.header(k, v);
  const results = new Map<number, Started | StartRefused>();
  await eachLimited(fresh, START_CONCURRENCY, async (item, n) => {
    const q = queues[n] as (typeof queues)[number];
    results.set(
      item.index,
      await startObject(c.env, item.decided, { ...q.rendered, granted: admitted.granted[n] === true }),
    );
  });
  await eachLimited(
    planned.filter((i) => i.decided.replay),
    START_CONCURRENCY,
    async (item) => void results.set(item.index, await startObject(c.env, item.decided, null)),
  );
  // Refused items give their own claims back now; started ones close theirs after the answer.
  const refusedClaims = items.flatMap((i) => (!i.decided.ok && ours(i) && i.facts.claim ? [i.facts.claim] : []));
  await releaseClaims(db, tenantId, refusedClaims);
  const open = planned.filter((i) => i.decided.claimOpen).map((i) => i.decided.idempotencyKey as string);
  c.executionCtx.waitUntil(
    closeClaims(openDb(c.env.DB).db, tenantId, open, Date.now()).catch((err: unknown) =>
      logUnclosedClaims(`batch of ${open.length}`, err),
    ),
  );
  const answers = items.map((i) => answerOf(i.index, results.get(i.index) ?? (i.decided as StartRefused)));
  const count = (s: BatchItemResult["status"]) => answers.filter((a) => a.status === s).length;
  return c.json({
    workflow_id: workflowId,
    version: reads.workflow.version,
    created: count("created"),
    replayed: count("replayed"),
    refused: count("refused"),
    items: answers,
  });
}

function answerOf(index: number, r: Started | StartRefused): BatchItemResult {
  if (r.ok) return { index, status: r.replay ? "replayed" : "created", id: r.id, execution_status: r.status };
  const { ok: _ok, code, message, retryable, errors, execution_id } = r;
  return {
    index,
    status: "refused",
    ...(execution_id ? { id: execution_id } : {}),
    error: { code, message, retryable, ...(errors ? { errors } : {}) },
  };
}

async function eachLimited<T>(all: T[], limit: number, work: (item: T, n: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < all.length) {
      const n = next++;
      await work(all[n] as T, n);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, all.length) }, lane));
}

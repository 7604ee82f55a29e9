import { Hono, type Context } from "hono";
import { endTime, setMetric, startTime } from "hono/timing";
import { z } from "zod";
import { executionTimeoutSeconds } from "../engine/dag";
import { openDb } from "../db/client";
import { readForStart } from "../db/start-reads";
import { settledOf, tenantStub } from "../durable/client";
import { canonicalHash } from "../lib/hash";
import { hashApiKey } from "../lib/api-keys";
import { newId } from "../lib/ids";
import { MAX_PREFER_WAIT_SECONDS, preferredWait } from "../lib/prefer";
import { acceptKey, authenticate, presentedKey } from "../middleware/auth";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { rateHeaders, tokenAsk } from "../middleware/rate-limit";
import { startExecution } from "../services/start";
import { refusal } from "./refusals";
import { idempotencyKeyOf, mountParam } from "./shared";

export const startBody = z
  .object({
    input: z.unknown().optional(),
    version: z.number().int().min(1).optional(),
    timeout_seconds: executionTimeoutSeconds.optional(),
    tags: z
      .array(z.string().regex(/^[\w.:-]{1,64}$/))
      .max(20)
      .optional(),
    metadata: z
      .record(z.string().regex(/^[\w.-]{1,64}$/), z.string().max(256))
      .refine((m) => Object.keys(m).length <= 20, "at most 20 keys")
      .optional(),
  })
  .strict();

/**
 * POST /v1/workflows/:id/executions: start an execution of a workflow (mounted under the workflow, before the key
 * middleware). The hot path of the API, so it authenticates itself: one D1 batch reads the caller's key, the
 * workflow version and the Idempotency-Key claim together (src/db/start-reads.ts), one TenantObject call takes the
 * request token with the execution's places in the queues, and then the ExecutionObject starts it.
 */
export const workflowExecutions = new Hono<AppEnv>().post("/", async (c) => {
  const presented = presentedKey(c);
  let body: z.output<typeof startBody>;
  let key: string | undefined;
  try {
    body = (await readJson(c, startBody)).value;
    key = idempotencyKeyOf(c);
  } catch (err) {
    // A malformed request is answered only to a caller who may make it, and counts against its rate limit.
    await authenticate(c);
    await takeToken(c);
    throw err;
  }
  const workflowId = mountParam(c, "id");
  const executionId = newId("ex");
  startTime(c, "d1");
  const [keyHash, requestHash] = await Promise.all([
    hashApiKey(presented.token),
    key === undefined ? undefined : canonicalHash({ workflow_id: workflowId, request: body }),
  ]);
  const claim =
    key === undefined || requestHash === undefined
      ? undefined
      : { key, request_hash: requestHash, execution_id: executionId, now: Date.now() };
  const db = c.get("db").db;
  const reads = await readForStart(db, {
    prefix: presented.prefix,
    keyHash,
    workflowId,
    version: body.version ?? null,
    claim,
  });
  endTime(c, "d1");
  acceptKey(c, reads.key, keyHash);
  const ask = tokenAsk(c);
  let rate: Record<string, string> | null = null;
  const started = await startExecution(c.env, db, {
    tenantId: c.get("tenantId"),
    workflowId,
    version: body.version,
    input: body.input ?? null,
    timeoutSeconds: body.timeout_seconds,
    idempotencyKey: key,
    inFlight: "conflict",
    requestForHash: body,
    traceId: c.get("traceId"),
    tags: body.tags ? [...new Set(body.tags)] : undefined,
    metadata: body.metadata,
    timing: (step, ms) => setMetric(c, step, ms),
    // On a handle of its own: it is not part of what this request waits for, nor of its D1 count.
    afterAnswer: (work) => c.executionCtx.waitUntil(work(openDb(c.env.DB).db)),
    prefetched: { workflow: reads.workflow, claim: reads.claim, executionId },
    admit: async (queue) => {
      const admitted = await tenantStub(c.env, c.get("tenantId")).admit({ token: ask, queue: queue ?? undefined });
      rate = rateHeaders(ask, admitted.token ?? refusedToken());
      return admitted;
    },
  });
  // Refused before its admission (no such workflow, invalid input): the request still took its token.
  rate ??= await takeToken(c);
  for (const [k, v] of Object.entries(rate)) c.header(k, v);
  if (!started.ok) throw refusal(started);
  c.header("location", `/v1/executions/${started.id}`);
  if (started.replay) c.header("idempotent-replayed", "true");
  const { replay, ok: _ok, ...view } = started;
  // Start and wait (RFC 7240): the execution as it is once it settled, or when the wait ran out. The wait is the
  // object's own promise on its terminal event; a client that goes away leaves the run as it was.
  const wait = preferredWait(c.req.header("prefer"), MAX_PREFER_WAIT_SECONDS);
  if (wait === null) return c.json(view, replay ? 200 : 201);
  const settled = await settledOf(c.env, started.id, c.get("tenantId"), wait * 1000);
  c.header("preference-applied", `wait=${wait}`);
  return c.json(settled ?? view, replay ? 200 : 201);
});

/** The request's token alone (a start refused before it was admitted); throws the 429 when there is none. */
async function takeToken(c: Context<AppEnv>): Promise<Record<string, string>> {
  const ask = tokenAsk(c);
  return rateHeaders(ask, await tenantStub(c.env, c.get("tenantId")).takeToken(ask.keyId, ask.perMinute, ask.burst));
}

function refusedToken(): never {
  throw new Error("the TenantObject answered an admission with a token asked for without a decision on it");
}

import { Hono } from "hono";
import { setMetric } from "hono/timing";
import type { z } from "zod";
import { decideStart } from "../engine/start-plan";
import { openDb } from "../db/client";
import { tenantStub } from "../durable/client";
import type { TokenDecision } from "../durable/tenant";
import { hashApiKey } from "../lib/api-keys";
import { newId } from "../lib/ids";
import { MAX_PREFER_WAIT_SECONDS, preferredWait } from "../lib/prefer";
import { authenticate, presentedKey } from "../middleware/auth";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { rateHeaders, tokenAsk } from "../middleware/rate-limit";
import { giveBack, performStart, requestHashOf, startFacts, type PerformOptions } from "../services/start";
import { startBatch } from "./start-batch";
import { askOf, readApiStart, startBody, takeToken } from "./start-request";
import { refusal } from "./refusals";
import { idempotencyKeyOf, mountParam } from "./shared";

/**
 * POST /v1/workflows/:id/executions: start an execution of a workflow (mounted under the workflow, before the key
 * middleware). The hot path of the API, so it authenticates itself: one D1 batch reads the caller's key, the
 * workflow version and the Idempotency-Key claim together (src/db/start-reads.ts), one TenantObject call takes the
 * request token with the execution's places in the queues, and then the ExecutionObject starts it.
 */
export const workflowExecutions = new Hono<AppEnv>().post("/batch", startBatch).post("/", async (c) => {
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
  const [keyHash, requestHash] = await Promise.all([
    hashApiKey(presented.token),
    key === undefined ? null : requestHashOf(workflowId, body),
  ]);
  const claims =
    key === undefined || requestHash === null ? [] : [{ key, request_hash: requestHash, execution_id: executionId }];
  const reads = await readApiStart(c, workflowId, body.version ?? null, keyHash, claims);
  const facts = startFacts(
    c.env,
    reads,
    key === undefined ? null : (reads.claims.get(key) ?? null),
    executionId,
    requestHash,
  );
  const plan = decideStart(facts, askOf(c, workflowId, body, key, "conflict"));
  const db = c.get("db").db;
  const ask = tokenAsk(c);
  // Start and wait (RFC 7240): the object's start itself waits on its terminal event and answers the execution as it
  // is then (settled, or when the wait ran out), in the same call. A client that goes away leaves the run as it was.
  const wait = preferredWait(c.req.header("prefer"), MAX_PREFER_WAIT_SECONDS);
  let token: TokenDecision | null = null;
  const opts: PerformOptions = {
    timing: (step, ms) => setMetric(c, step, ms),
    waitMs: wait === null ? undefined : wait * 1000,
    // On a handle of its own: it is not part of what this request waits for, nor of its D1 count.
    afterAnswer: (work) => c.executionCtx.waitUntil(work(openDb(c.env.DB).db)),
    admit: async (queue) => {
      const admitted = await tenantStub(c.env, c.get("tenantId")).admit({ token: ask, queue: queue ?? undefined });
      token = admitted.token;
      return admitted;
    },
  };
  let started;
  if (plan.ok) started = await performStart(c.env, db, facts, plan, opts);
  else {
    await giveBack(db, c.get("tenantId"), facts);
    started = plan;
  }
  // Refused before its admission (no such workflow, invalid input): the request still took its token. Over the
  // limit, rateHeaders throws the 429 with its headers.
  const rate = token ? rateHeaders(ask, token) : await takeToken(c);
  for (const [k, v] of Object.entries(rate)) c.header(k, v);
  if (!started.ok) throw refusal(started);
  c.header("location", `/v1/executions/${started.id}`);
  if (started.replay) c.header("idempotent-replayed", "true");
  const { replay, ok: _ok, settled, ...view } = started;
  if (wait === null) return c.json(view, replay ? 200 : 201);
  c.header("preference-applied", `wait=${wait}`);
  return c.json(settled ?? view, replay ? 200 : 201);
});

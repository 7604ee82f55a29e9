// What the API's single and batch starts share: the body of one start, it as the pipeline's ask, the one D1 batch that
// also authenticates the caller, and the token a refused start still takes.
import type { Context } from "hono";
import { endTime, startTime } from "hono/timing";
import { z } from "zod";
import { executionTimeoutSeconds } from "../engine/dag";
import type { StartAsk } from "../engine/start-plan";
import { readForStart, type ClaimAsk, type StartReads } from "../db/start-reads";
import { tenantStub } from "../durable/client";
import { acceptKey, presentedKey } from "../middleware/auth";
import type { AppEnv } from "../middleware/context";
import { rateHeaders, tokenAsk } from "../middleware/rate-limit";

export const startBody = z
  .object({
    input: z.unknown().optional(),
    version: z.number().int().min(1).optional(),
    timeout_seconds: executionTimeoutSeconds.optional(),
    /** interactive, default or batch: the priority lane it waits in for a running slot (422 unknown_lane else). */
    lane: z.string().max(64).optional(),
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

/** A start body as the pipeline's ask. */
export function askOf(
  c: Context<AppEnv>,
  workflowId: string,
  body: z.output<typeof startBody>,
  idempotencyKey: string | undefined,
  inFlight: StartAsk["inFlight"],
): StartAsk {
  return {
    tenantId: c.get("tenantId"),
    workflowId,
    version: body.version,
    input: body.input ?? null,
    timeoutSeconds: body.timeout_seconds,
    idempotencyKey,
    inFlight,
    requestForHash: body,
    traceId: c.get("traceId"),
    tags: body.tags ? [...new Set(body.tags)] : undefined,
    metadata: body.metadata,
    lane: body.lane,
  };
}

/**
 * The one D1 batch of an API start (single or batch): the caller's key, the workflow version and the claims, with
 * the key verified in code before anything read is used.
 */
export async function readApiStart(
  c: Context<AppEnv>,
  workflowId: string,
  version: number | null,
  keyHash: string,
  claims: ClaimAsk[],
): Promise<StartReads> {
  startTime(c, "d1");
  const reads = await readForStart(c.get("db").db, {
    prefix: presentedKey(c).prefix,
    keyHash,
    workflowId,
    version,
    claims,
    now: Date.now(),
  });
  endTime(c, "d1");
  acceptKey(c, reads.key, keyHash);
  return reads;
}

/** The request's token alone (a start refused before it was admitted); throws the 429 when there is none. */
export async function takeToken(c: Context<AppEnv>): Promise<Record<string, string>> {
  const ask = tokenAsk(c);
  return rateHeaders(ask, await tenantStub(c.env, c.get("tenantId")).takeToken(ask.keyId, ask.perMinute, ask.burst));
}

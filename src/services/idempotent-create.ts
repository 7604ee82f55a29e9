// Idempotency-Key on the create routes (POST /v1/workflows, a version's PUT /v1/workflows/:id, /v1/monitors,
// /v1/workflows/:id/schedules, /v1/conversations, a conversation's /messages and /v1/chat), with the
// semantics of starting an execution: a replay answers with the object the key made, another body is refused, and a
// duplicate that arrives while the first is still creating is told to retry. A retried create never makes two.
import type { Db } from "../db/client";
import { claimCreateRequest, completeCreateRequest, releaseCreateRequest } from "../db/idempotency-repo";
import { canonicalHash } from "../lib/hash";

/** A request that claimed a key and then died mid-create is given up on after this long; a duplicate takes over. */
export const IN_FLIGHT_LEASE_MS = 30_000;

export type CreateScope = "workflow" | "version" | "monitor" | "schedule" | "conversation" | "message";

export type CreateRefusal = "idempotency_key_reused" | "idempotency_key_in_flight" | "idempotent_resource_gone";

export type CreateResult<T> =
  | { ok: true; created: boolean; value: T }
  | { ok: false; code: CreateRefusal; message: string; resource_id: string; retryable: boolean };

const MESSAGES: Record<CreateRefusal, (scope: CreateScope) => string> = {
  idempotency_key_reused: () => "This Idempotency-Key was used with a different request body.",
  idempotency_key_in_flight: () => "A request with this Idempotency-Key is still being processed; retry shortly.",
  idempotent_resource_gone: (scope) => `The ${scope} this Idempotency-Key created has since been deleted.`,
};

export interface CreateRequest {
  tenantId: string;
  scope: CreateScope;
  key: string | undefined;
  /** What the key is bound to: the same key with anything else is refused. */
  request: unknown;
  /** The id a new object gets. */
  id: string;
}

/**
 * `create(id)` inserts the object unless one with that id exists (then null); `load(id)` reads it back. Both are keyed
 * on the id the claim holds, so a take-over after a crash finds what the first request made instead of repeating it.
 */
export async function idempotentCreate<T>(
  db: Db,
  r: CreateRequest,
  create: (id: string) => Promise<T | null>,
  load: (id: string) => Promise<T | null>,
): Promise<CreateResult<T>> {
  if (r.key === undefined) return { ok: true, created: true, value: (await create(r.id)) as T };
  const now = Date.now();
  const k = { tenant_id: r.tenantId, scope: r.scope, key: r.key };
  const hash = await canonicalHash({ scope: r.scope, request: r.request });
  const owner = await claimCreateRequest(db, { ...k, request_hash: hash, resource_id: r.id, created_at: now });
  const refuse = (code: CreateRefusal) =>
    ({
      ok: false,
      code,
      message: MESSAGES[code](r.scope),
      resource_id: owner.resource_id,
      retryable: code === "idempotency_key_in_flight",
    }) as const;
  if (owner.request_hash !== hash) return refuse("idempotency_key_reused");
  const ours = owner.resource_id === r.id;
  if (!ours && owner.completed_at !== null) {
    const value = await load(owner.resource_id);
    return value === null ? refuse("idempotent_resource_gone") : { ok: true, created: false, value };
  }
  if (!ours && owner.created_at > now - IN_FLIGHT_LEASE_MS) return refuse("idempotency_key_in_flight");
  try {
    const made = await create(owner.resource_id);
    const value = made ?? (await load(owner.resource_id));
    await completeCreateRequest(db, k, Date.now());
    return value === null ? refuse("idempotent_resource_gone") : { ok: true, created: made !== null, value };
  } catch (err) {
    // The create failed: free the key so the client's retry starts afresh. Should freeing fail too, the claim
    // lapses after IN_FLIGHT_LEASE_MS and the retry takes over (finding the object if it was in fact made).
    await releaseCreateRequest(db, k).catch(() => undefined);
    throw err;
  }
}

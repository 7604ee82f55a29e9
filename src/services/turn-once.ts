// A conversation turn started once per Idempotency-Key, for both ways a message arrives (POST …/messages and the AI
// SDK's /v1/chat): a retried message is the same turn, never a second one (a second answer to pay for, a second
// order placed). The key is bound to the conversation and the content.
import type { Db } from "../db/client";
import * as conv from "../db/conversations-repo";
import { newId } from "../lib/ids";
import { replayTurn, sendMessage, type SendMessage, type TurnRefused, type TurnStarted } from "./conversations";
import { idempotentCreate, type CreateResult } from "./idempotent-create";

/** Carries a refused turn out of idempotentCreate, which frees the key when its create throws. */
class Refused extends Error {
  constructor(readonly refusal: TurnRefused) {
    super(refusal.message);
  }
}

/**
 * Start a turn (`created`), or answer the turn an earlier request with the same key started, as it stands or waited
 * for up to `replayWaitMs` (not `created`). A refused message (busy, over budget) frees its key for the retry.
 */
export async function startTurnOnce(
  env: Env,
  db: Db,
  history: Db,
  r: Omit<SendMessage, "executionId"> & { key: string | undefined; replayWaitMs: number },
): Promise<CreateResult<TurnStarted> | TurnRefused> {
  const row = r.conversation;
  const proposed = newId("ex");
  try {
    return await idempotentCreate(
      db,
      {
        tenantId: row.tenant_id,
        scope: "message",
        key: r.key,
        request: { conversation_id: row.id, content: r.content },
        id: proposed,
      },
      async (id) => {
        // Taking over from a request that died after its turn began: that turn is the answer.
        if (id !== proposed && (await conv.turnOf(history, row.id, id))) return null;
        const turn = await sendMessage(env, db, history, { ...r, executionId: id });
        if (!turn.ok) throw new Refused(turn);
        return turn;
      },
      (id) => replayTurn(env, history, row, id, r.replayWaitMs),
    );
  } catch (err) {
    if (err instanceof Refused) return err.refusal;
    throw err;
  }
}

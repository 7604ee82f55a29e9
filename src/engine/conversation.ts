// What a conversation turn is given and what it leaves: the history window under a token budget, and the answer
// read from the turn's execution. Pure; the conversations service (src/services/conversations.ts) calls it.

export interface StoredMessage {
  seq: number;
  role: "user" | "assistant";
  content: string;
  tokens: number;
}

export interface Window {
  messages: { role: "user" | "assistant"; content: string }[];
  tokens: number;
  /** Older messages left out to keep under the budget. */
  dropped: boolean;
}

/**
 * An estimate of a text's tokens: 4 characters a token for Latin text, which over-counts slightly for English and
 * stays on the safe side of the budget; a CJK character counts as one token.
 */
export function estimateTokens(text: string): number {
  let wide = 0;
  for (const ch of text) if (ch.codePointAt(0)! > 0x2e7f) wide++;
  return Math.ceil((text.length - wide) / 4) + wide + 4;
}

/**
 * The newest answered messages that fit in `budget` tokens and `maxMessages` messages, oldest first. Starts on a
 * user message: a window cut between a question and its answer would open with an answer to nothing.
 * `newestFirst` holds only answered turns (failed and empty turns are never history).
 */
export function historyWindow(newestFirst: StoredMessage[], budget: number, maxMessages: number): Window {
  const kept: StoredMessage[] = [];
  let tokens = 0;
  for (const m of newestFirst) {
    if (kept.length >= maxMessages || tokens + m.tokens > budget) break;
    kept.push(m);
    tokens += m.tokens;
  }
  while (kept.length && kept[kept.length - 1]!.role !== "user") tokens -= kept.pop()!.tokens;
  kept.reverse();
  return {
    messages: kept.map((m) => ({ role: m.role, content: m.content })),
    tokens,
    dropped: kept.length < newestFirst.length,
  };
}

export type TurnStatus = "ok" | "empty" | "failed";

export interface TurnAnswer {
  status: TurnStatus;
  content: string | null;
  summary: string | null;
  error_code: string | null;
  error_message: string | null;
}

/**
 * The answer of a finished turn. An execution's output holds its leaf nodes' outputs by node id; the reply is the
 * `reply` string of the one leaf that has one (its `summary`, when it keeps one, goes to the next turn). A turn that
 * did not succeed, or whose reply is missing or blank, is recorded as such: shown in the transcript, never given to
 * a later turn as history.
 */
export function turnAnswer(
  status: string,
  output: unknown,
  error: { code: string | null; message: string | null },
): TurnAnswer {
  const failed = (code: string, message: string): TurnAnswer => ({
    status: "failed",
    content: null,
    summary: null,
    error_code: code,
    error_message: message,
  });
  if (status !== "succeeded")
    return failed(error.code ?? `execution_${status}`, error.message ?? `The turn's execution ended ${status}.`);
  const leaves = output && typeof output === "object" ? Object.entries(output as Record<string, unknown>) : [];
  const replying = leaves.filter(([, v]) => v && typeof v === "object" && "reply" in v) as [
    string,
    { reply: unknown; summary?: unknown },
  ][];
  if (replying.length > 1)
    return failed(
      "ambiguous_reply",
      `More than one last node answers with a reply (${replying.map(([id]) => id).join(", ")}); keep one.`,
    );
  // A leaf whose output went to R2 (past MAX_INLINE_OUTPUT_BYTES) holds a reference, not its reply: too long for a
  // message, and said so rather than recorded as no reply at all.
  const kept = leaves.find(([, v]) => {
    const ref = v as { $ref?: unknown; bytes?: unknown } | null;
    return !!ref && typeof ref === "object" && typeof ref.$ref === "string" && typeof ref.bytes === "number";
  });
  if (replying.length === 0 && kept)
    return failed(
      "reply_too_large",
      `The output of node ${kept[0]} is ${(kept[1] as { bytes: number }).bytes} bytes, too large for a row (MAX_INLINE_OUTPUT_BYTES); a reply must be shorter.`,
    );
  const leaf = replying[0]?.[1];
  const summary = typeof leaf?.summary === "string" && leaf.summary.trim() ? leaf.summary : null;
  if (typeof leaf?.reply !== "string" || leaf.reply.trim() === "")
    return {
      status: "empty",
      content: null,
      summary,
      error_code: "empty_reply",
      error_message: leaf
        ? "The turn's workflow answered with an empty reply."
        : "No last node of the turn's workflow answers with a `reply` string.",
    };
  return { status: "ok", content: leaf.reply, summary, error_code: null, error_message: null };
}

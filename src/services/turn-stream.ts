// A conversation turn as the AI SDK's UI message stream (what useChat reads): the turn's execution events, read from
// its ExecutionObject's own stream, become text parts as node.delta comes, then the finish (or the error). A
// reconnect replays the whole turn from its first event: the AI SDK's DefaultChatTransport expects a resumed stream
// to be a replay (resumeStreamIsReplay), and the message id is the same, so the client ends with one message.
import { createUIMessageStream, type UIMessageChunk } from "ai";
import { TERMINAL_EXECUTION, type EventEnvelope } from "../engine/events";
import { executionStub, snapshotOf } from "../durable/client";
import { answerOfView } from "../durable/projection";
import type { TurnAnswer } from "../engine/conversation";

export interface TurnRef {
  tenantId: string;
  conversationId: string;
  executionId: string;
  /** The user message's seq; the answer is seq + 1. */
  seq: number;
  /** Told the answer once the turn has ended, before the stream finishes (so the transcript has it by then). */
  answered: (answer: TurnAnswer, at: number) => Promise<void>;
}

/** Every event of an execution from its start, read from the object's SSE stream until the run ends it. */
async function* executionEvents(env: Env, t: TurnRef, signal: AbortSignal): AsyncGenerator<EventEnvelope> {
  const res = await executionStub(env, t.executionId).fetch(
    new Request("https://execution.internal/stream", {
      headers: { "x-edgeflow-after": "0", "x-edgeflow-tenant": t.tenantId },
      signal,
    }),
  );
  if (!res.ok || !res.body) throw new Error(`the turn's execution stream answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data: "))
          .map((l) => l.slice(6))
          .join("\n");
        if (data) yield JSON.parse(data) as EventEnvelope;
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/**
 * node.delta events as UI text parts. A piece that continues the text extends the part (a continuation after a cut
 * included, even one that dropped trailing whitespace); one at offset 0 after text (an attempt run again after a
 * crash, a retry) or from another node or attempt starts a new part, since the protocol cannot take text back.
 */
class TextParts {
  private id: string | null = null;
  private key = "";
  private parts = 0;
  streamed = false;

  constructor(private readonly prefix: string) {}

  delta(e: EventEnvelope): UIMessageChunk[] {
    const { text, offset } = e.data as { text: string; offset: number };
    const key = `${e.node_id}:${e.attempt}`;
    const out: UIMessageChunk[] = [];
    if (this.id === null || key !== this.key || offset === 0) {
      out.push(...this.end());
      this.id = `${this.prefix}-${++this.parts}`;
      this.key = key;
      out.push({ type: "text-start", id: this.id });
    }
    this.streamed = true;
    out.push({ type: "text-delta", id: this.id as string, delta: text });
    return out;
  }

  end(): UIMessageChunk[] {
    if (this.id === null) return [];
    const id = this.id;
    this.id = null;
    return [{ type: "text-end", id }];
  }
}

/** The turn as a UI message stream: start, text parts as the reply streams, then finish or error. */
export function turnStream(env: Env, t: TurnRef): ReadableStream<UIMessageChunk> {
  const messageId = `${t.conversationId}-${t.seq + 1}`;
  const metadata = { conversation_id: t.conversationId, execution_id: t.executionId, seq: t.seq + 1 };
  return createUIMessageStream({
    onError: (err) => (err instanceof Error ? err.message : String(err)),
    execute: async ({ writer }) => {
      const stop = new AbortController();
      const text = new TextParts(messageId);
      writer.write({ type: "start", messageId, messageMetadata: metadata });
      try {
        for await (const e of executionEvents(env, t, stop.signal)) {
          if (e.type === "node.delta") for (const c of text.delta(e)) writer.write(c);
          if (e.type.startsWith("execution.") && TERMINAL_EXECUTION.has(e.type.slice(10) as never)) break;
        }
      } finally {
        stop.abort();
      }
      for (const c of text.end()) writer.write(c);
      const view = await snapshotOf(env, t.executionId, t.tenantId);
      if (!view || !TERMINAL_EXECUTION.has(view.status)) throw new Error("the turn's execution stream ended early");
      const answer = answerOfView(view);
      await t.answered(answer, Date.parse(view.finished_at ?? "") || Date.now());
      if (answer.status !== "ok") throw new Error(`${answer.error_code}: ${answer.error_message}`);
      // A workflow that does not stream its reply still answers: as one part, once.
      if (!text.streamed) {
        const id = `${messageId}-1`;
        writer.write({ type: "text-start", id });
        writer.write({ type: "text-delta", id, delta: answer.content as string });
        writer.write({ type: "text-end", id });
      }
      writer.write({ type: "finish", messageMetadata: metadata });
    },
  });
}

// One conversation: its transcript, a box to send the next message, and the reply as it streams (node.delta events
// of the turn's execution, over its WebSocket stream).
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "../api";
import { time } from "../format";
import { follow } from "../live";
import { withDelta, type Streams } from "../model/deltas";
import type { ConversationView, MessageView } from "../model/conversations";
import { Link } from "../router";
import { LoadFailed, ProblemView } from "../components/Problem";

async function allMessages(id: string): Promise<MessageView[]> {
  const out: MessageView[] = [];
  for (let after = 0; ;) {
    const page = await api.get<{ data: MessageView[]; next_after: number | null }>(
      `/v1/conversations/${id}/messages?after=${after}&limit=200`,
    );
    out.push(...page.data);
    if (page.next_after === null) return out;
    after = page.next_after;
  }
}

function Message({ m }: { m: MessageView }) {
  return (
    <li className={`message ${m.role}`} data-status={m.status}>
      <p className="meta">
        {m.role === "user" ? "User" : "Assistant"} · {time(m.created_at)} ·{" "}
        <Link to={`/executions/${m.execution_id}`}>turn</Link>
        {m.status !== "ok" && <> · {m.status}</>}
      </p>
      {m.content !== null ? <p className="content">{m.content}</p> : null}
      {m.error && (
        <p className="problem">
          <code>{m.error.code}</code> {m.error.message}
        </p>
      )}
    </li>
  );
}

export function Conversation({ id }: { id: string }) {
  const [conversation, setConversation] = useState<ConversationView | null>(null);
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [loadError, setLoadError] = useState<Error | null>(null);
  const [sendError, setSendError] = useState<Error | null>(null);
  const [running, setRunning] = useState<string | null>(null);
  const [streams, setStreams] = useState<Streams>({});

  const reload = useCallback(async () => {
    try {
      const [c, m] = await Promise.all([api.get<ConversationView>(`/v1/conversations/${id}`), allMessages(id)]);
      setConversation(c);
      setMessages(m);
      setRunning(c.active_execution_id);
    } catch (err) {
      setLoadError(err as Error);
    }
  }, [id]);
  useEffect(() => void reload(), [reload]);

  // The run has ended; its answer reaches the transcript a moment later (the turn's end is written to D1).
  const landed = useCallback(
    async (turn: string) => {
      for (let i = 0; i < 50; i++) {
        const c = await api.get<ConversationView>(`/v1/conversations/${id}`).catch(() => null);
        if (c && c.active_execution_id !== turn) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await reload();
    },
    [id, reload],
  );

  // Follow the running turn: its streamed text as it comes, then the stored transcript once it ends.
  useEffect(() => {
    if (!running) return;
    setStreams({});
    return follow(running, 0, {
      event: (e) => {
        if (e.type === "node.delta") setStreams((s) => withDelta(s, e));
      },
      state: (s) => {
        if (s === "closed") void landed(running);
      },
    });
  }, [running, landed]);

  const send = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const content = String(new FormData(form).get("content") ?? "").trim();
    if (!content) return;
    setSendError(null);
    try {
      const sent = await api.post<{ execution_id: string; message: MessageView }>(`/v1/conversations/${id}/messages`, {
        content,
      });
      form.reset();
      setMessages((m) => [...m, sent.message]);
      setRunning(sent.execution_id);
    } catch (err) {
      setSendError(err as Error);
    }
  };

  if (loadError) return <LoadFailed error={loadError} />;
  const streaming = Object.values(streams)
    .map((s) => s.text)
    .join("\n");
  return (
    <section>
      <h1>Conversation</h1>
      {conversation && (
        <p>
          <code>{conversation.id}</code> · workflow{" "}
          <Link to={`/workflows/${conversation.workflow_id}`}>{conversation.workflow_id}</Link>
          {conversation.user_id && <> · user {conversation.user_id}</>} · {conversation.message_count} messages
        </p>
      )}
      <ol className="transcript" aria-label="Transcript">
        {messages.map((m) => (
          <Message key={m.seq} m={m} />
        ))}
        {running && (
          <li className="message assistant" aria-live="polite" data-status="streaming">
            <p className="meta">Assistant · answering…</p>
            {streaming && <p className="content">{streaming}</p>}
          </li>
        )}
      </ol>
      <form className="send" onSubmit={(e) => void send(e)} aria-label="Send a message">
        <label>
          Message <textarea name="content" rows={3} required disabled={running !== null} />
        </label>
        <button type="submit" disabled={running !== null}>
          Send
        </button>
      </form>
      <ProblemView error={sendError} />
    </section>
  );
}

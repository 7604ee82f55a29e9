// Conversations, most recently active first, with their message count and last message (one API call a page).
import { useState, type FormEvent } from "react";
import { api, query } from "../api";
import { time } from "../format";
import { useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { ProblemView } from "../components/Problem";
import type { ConversationView } from "../model/conversations";

interface Page {
  data: ConversationView[];
  next_cursor: string | null;
}

export function Conversations({ search }: { search: URLSearchParams }) {
  const user = search.get("user_id") ?? "";
  const [older, setOlder] = useState<ConversationView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<Error | null>(null);
  const first = useLoad(
    async () => {
      const page = await api.get<Page>(`/v1/conversations${query({ user_id: user || undefined, limit: 50 })}`);
      setOlder([]);
      setCursor(page.next_cursor);
      return page;
    },
    [user],
    10_000,
  );
  const rows = [...(first.data?.data ?? []), ...older];
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const u = String(new FormData(e.currentTarget).get("user_id") ?? "").trim();
    navigate(`/conversations${query({ user_id: u || undefined })}`);
  };
  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api.get<Page>(`/v1/conversations${query({ user_id: user || undefined, cursor, limit: 50 })}`);
      setOlder((o) => [...o, ...page.data]);
      setCursor(page.next_cursor);
    } catch (err) {
      setMoreError(err as Error);
    }
  };
  return (
    <section>
      <h1>Conversations</h1>
      <form className="filters" onSubmit={submit} aria-label="Find conversations">
        <label>
          User <input name="user_id" defaultValue={user} placeholder="any user" />
        </label>
        <button type="submit">Show</button>
      </form>
      <ProblemView error={first.error ?? moreError} />
      <table className="list">
        <caption className="sr-only">Conversations, most recently active first</caption>
        <thead>
          <tr>
            <th scope="col">Conversation</th>
            <th scope="col">User</th>
            <th scope="col">Messages</th>
            <th scope="col">Last message</th>
            <th scope="col">Active</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id}>
              <td>
                <Link to={`/conversations/${c.id}`}>{c.id}</Link>
              </td>
              <td>{c.user_id ?? "—"}</td>
              <td>{c.message_count}</td>
              <td className="clip">
                {c.last_message
                  ? `${c.last_message.role}: ${c.last_message.content ?? `(${c.last_message.status})`}`
                  : "—"}
              </td>
              <td>{time(c.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!first.loading && rows.length === 0 && <p>No conversations yet.</p>}
      {cursor && (
        <button type="button" onClick={() => void more()}>
          Older conversations
        </button>
      )}
    </section>
  );
}

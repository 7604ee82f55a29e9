import { useState, type FormEvent } from "react";
import { api, query } from "../api";
import { time } from "../format";
import { useLoad } from "../hooks";
import type { Page, WorkflowRow, WorkflowView } from "../model/types";
import { Link, navigate } from "../router";
import { ProblemView, StatusBadge } from "../components/Problem";

const EXAMPLE = JSON.stringify(
  {
    name: "hello",
    nodes: [
      { id: "greet", kind: "transform", config: { expression: '"hello " & input.name' } },
      { id: "shout", kind: "transform", needs: ["greet"], config: { expression: "$uppercase(nodes.greet.output)" } },
    ],
  },
  null,
  2,
);

export function Workflows() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api.get<Page<WorkflowRow>>(`/v1/workflows${query({ limit: 50, cursor })}`), [cursor]);
  return (
    <section>
      <h1>Workflows</h1>
      <ProblemView error={list.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Id</th>
            <th scope="col">Latest version</th>
            <th scope="col">Executions</th>
            <th scope="col">Last execution</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((w) => (
            <tr key={w.id}>
              <td>
                <Link to={`/workflows/${w.id}`}>{w.name}</Link>
              </td>
              <td>
                <code>{w.id}</code>
              </td>
              <td>{w.latest_version}</td>
              <td>{w.execution_count ?? 0}</td>
              <td>
                {w.last_execution ? (
                  <Link to={`/executions/${w.last_execution.id}`}>
                    <StatusBadge status={w.last_execution.status} /> {time(w.last_execution.created_at)}
                  </Link>
                ) : (
                  "—"
                )}
              </td>
              <td>{time(w.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.data.length === 0 && <p className="empty">No workflows yet.</p>}
      <div className="buttons">
        {cursor && (
          <button type="button" onClick={() => setCursor(null)}>
            First page
          </button>
        )}
        {list.data?.next_cursor && (
          <button type="button" onClick={() => setCursor(list.data!.next_cursor!)}>
            Next page
          </button>
        )}
      </div>
      <NewWorkflow />
    </section>
  );
}

function NewWorkflow() {
  const [text, setText] = useState(EXAMPLE);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    let definition: unknown;
    try {
      definition = JSON.parse(text);
    } catch {
      return setError(new Error("The definition is not valid JSON."));
    }
    try {
      const made = await api.post<WorkflowView>("/v1/workflows", definition);
      navigate(`/workflows/${made.id}`);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <details className="panel">
      <summary>New workflow</summary>
      <form onSubmit={submit}>
        <label>
          Definition (JSON)
          <textarea rows={14} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
        </label>
        <button type="submit">Create workflow</button>
      </form>
      <ProblemView error={error} />
    </details>
  );
}

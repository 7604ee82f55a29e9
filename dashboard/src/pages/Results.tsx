// What workflows produced (GET /v1/results): by name, workflow and key, newest first, with a chart of a numeric
// field over time (one line per key) and NDJSON/CSV exports.
import { useState, type FormEvent } from "react";
import { api, download, query } from "../api";
import { json, time } from "../format";
import { useLoad } from "../hooks";
import { numericFields, seriesOf, valueAt, type ResultRow } from "../model/series";
import { Link, navigate } from "../router";
import { ResultsChart } from "../components/ResultsChart";
import { ProblemView } from "../components/Problem";

interface Page {
  data: ResultRow[];
  next_cursor: string | null;
}

export function Results({ search }: { search: URLSearchParams }) {
  const filter = {
    workflow: search.get("workflow") ?? "",
    name: search.get("name") ?? "",
    key: search.get("key") ?? "",
  };
  const asked = Boolean(filter.workflow || filter.name);
  const [older, setOlder] = useState<ResultRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const first = useLoad(async () => {
    setOlder([]);
    if (!asked) return null;
    const page = await api.get<Page>(`/v1/results${query({ ...filter, limit: 100 })}`);
    setCursor(page.next_cursor);
    return page;
  }, [filter.workflow, filter.name, filter.key]);
  const [loadError, setLoadError] = useState<Error | null>(null);
  const rows = [...(first.data?.data ?? []), ...older];
  const fields = numericFields(rows.map((r) => r.value));
  const [chosen, setChosen] = useState("");
  const field = fields.includes(chosen) ? chosen : (fields[0] ?? "");

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const get = (k: string) => String(f.get(k) ?? "").trim();
    navigate(`/results${query({ name: get("name"), workflow: get("workflow"), key: get("key") })}`);
  };
  const more = async () => {
    if (!cursor) return;
    try {
      const page = await api.get<Page>(`/v1/results${query({ ...filter, cursor, limit: 100 })}`);
      setOlder((o) => [...o, ...page.data]);
      setCursor(page.next_cursor);
    } catch (err) {
      setLoadError(err as Error);
    }
  };
  const exportAs = (format: "ndjson" | "csv") =>
    download(`/v1/results/export${query({ ...filter, format })}`, `results.${format}`).catch(setLoadError);

  return (
    <section>
      <h1>Results</h1>
      <form className="filters" onSubmit={submit} aria-label="Find results">
        <label>
          Name <input name="name" defaultValue={filter.name} placeholder="rewards" pattern="[a-z0-9][a-z0-9_\-]*" />
        </label>
        <label>
          Workflow <input name="workflow" defaultValue={filter.workflow} placeholder="wf_…" />
        </label>
        <label>
          Key <input name="key" defaultValue={filter.key} />
        </label>
        <button type="submit">Show</button>
      </form>
      {!asked && <p className="empty">Give a result name or a workflow (a node's `result` in its definition).</p>}
      <ProblemView error={first.error ?? loadError} />
      {asked && first.data && (
        <>
          {fields.length > 0 && (
            <label className="inline">
              Chart{" "}
              <select value={field} onChange={(e) => setChosen(e.target.value)}>
                {fields.map((f) => (
                  <option key={f}>{f}</option>
                ))}
              </select>
            </label>
          )}
          {field && <ResultsChart series={seriesOf(rows, field)} field={field} />}
          <p>
            <button type="button" onClick={() => exportAs("csv")}>
              Export CSV
            </button>{" "}
            <button type="button" onClick={() => exportAs("ndjson")}>
              Export NDJSON
            </button>
          </p>
          <table className="list">
            <caption className="sr-only">Results, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                {field && <th scope="col">{field}</th>}
                <th scope="col">Execution</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.execution_id}/${r.node_id}`}>
                  <td>{time(r.created_at)}</td>
                  <td>{r.name}</td>
                  <td>{r.key ?? "—"}</td>
                  {field && <td>{String(valueAt(r.value, field) ?? "—")}</td>}
                  <td>
                    <Link to={`/executions/${r.execution_id}`}>{r.execution_id}</Link> <small>{r.node_id}</small>
                  </td>
                  <td>
                    <code className="value">{json(r.value).slice(0, 160)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && <p className="empty">No results match.</p>}
          {cursor && (
            <button type="button" onClick={more}>
              Older results
            </button>
          )}
        </>
      )}
    </section>
  );
}

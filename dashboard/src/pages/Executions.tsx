import { useState, type FormEvent } from "react";
import { api, query } from "../api";
import { between, duration, time } from "../format";
import { useLoad } from "../hooks";
import { EXECUTION_STATUSES, type ExecutionRow, type Page } from "../model/types";
import { Link, navigate } from "../router";
import { ProblemView, StatusBadge } from "../components/Problem";

const FILTERS = ["status", "workflow_id", "version", "tag", "metadata", "created_after", "created_before"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

function filtersOf(search: URLSearchParams): Filters {
  return Object.fromEntries(FILTERS.flatMap((f) => (search.get(f) ? [[f, search.get(f)!]] : [])));
}

// datetime-local has no zone; the API wants ISO 8601 with one.
const toIso = (local: string | undefined) => (local ? new Date(local).toISOString() : undefined);

export function Executions({ search }: { search: URLSearchParams }) {
  const filters = filtersOf(search);
  const apiFilters = {
    ...filters,
    created_after: toIso(filters.created_after),
    created_before: toIso(filters.created_before),
  };
  const key = JSON.stringify(filters);
  // The first page and the counts reload every 2 s while the tab is visible, so rows change status as you watch.
  const first = useLoad(
    () => api.get<Page<ExecutionRow>>(`/v1/executions${query({ ...apiFilters, limit: 50 })}`),
    [key],
    2000,
  );
  const { status: _status, ...countFilters } = apiFilters;
  const counts = useLoad(
    () => api.get<{ counts: Record<string, number>; total: number }>(`/v1/executions/counts${query(countFilters)}`),
    [key],
    2000,
  );
  const [more, setMore] = useState<{ rows: ExecutionRow[]; cursor: string | null; key: string }>({
    rows: [],
    cursor: null,
    key,
  });
  const [moreError, setMoreError] = useState<Error | null>(null);
  const extra = more.key === key ? more.rows : [];
  const cursor = more.key === key && more.rows.length ? more.cursor : (first.data?.next_cursor ?? null);
  const loadMore = async () => {
    try {
      const page = await api.get<Page<ExecutionRow>>(`/v1/executions${query({ ...apiFilters, limit: 50, cursor })}`);
      setMore({ rows: [...extra, ...page.data], cursor: page.next_cursor ?? null, key });
    } catch (err) {
      setMoreError(err as Error);
    }
  };
  const setFilters = (next: Filters) => navigate(`/executions${query(next)}`, true);
  const rows = [...(first.data?.data ?? []), ...extra.filter((r) => !first.data?.data.some((f) => f.id === r.id))];
  return (
    <section>
      <h1>Executions</h1>
      <FilterForm key={key} filters={filters} onChange={setFilters} />
      <ul className="counts" aria-label="Executions by status">
        {EXECUTION_STATUSES.map((s) => (
          <li key={s}>
            <button
              type="button"
              className={`count status-${s}`}
              aria-pressed={filters.status === s}
              onClick={() => setFilters({ ...filters, status: filters.status === s ? undefined : s })}
            >
              {s.replace("_", " ")} <strong>{counts.data?.counts[s] ?? "…"}</strong>
            </button>
          </li>
        ))}
      </ul>
      <ProblemView error={first.error ?? counts.error ?? moreError} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Execution</th>
            <th scope="col">Workflow</th>
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id} data-execution={e.id}>
              <td>
                <Link to={`/executions/${e.id}`}>{e.id}</Link>
              </td>
              <td>
                <Link to={`/workflows/${e.workflow_id}`}>{e.workflow_id}</Link>
              </td>
              <td>{e.version}</td>
              <td>
                <StatusBadge status={e.status} />
              </td>
              <td>{time(e.created_at)}</td>
              <td>{duration(between(e.started_at, e.finished_at))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {first.data && rows.length === 0 && <p className="empty">No executions match.</p>}
      {cursor && (
        <button type="button" onClick={loadMore}>
          Load more
        </button>
      )}
    </section>
  );
}

function FilterForm({ filters, onChange }: { filters: Filters; onChange: (f: Filters) => void }) {
  const [draft, setDraft] = useState<Filters>(filters);
  const field = (name: keyof Filters, label: string, props: Record<string, string> = {}) => (
    <label>
      {label}
      <input
        name={name}
        value={draft[name] ?? ""}
        onChange={(e) => setDraft({ ...draft, [name]: e.target.value || undefined })}
        {...props}
      />
    </label>
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onChange(draft);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter executions">
      <label>
        Status
        <select
          name="status"
          value={draft.status ?? ""}
          onChange={(e) => setDraft({ ...draft, status: e.target.value || undefined })}
        >
          <option value="">any</option>
          {EXECUTION_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      {field("workflow_id", "Workflow", { placeholder: "wf_…" })}
      {field("version", "Version", { inputMode: "numeric", size: "4" })}
      {field("tag", "Tag")}
      {field("metadata", "Metadata", { placeholder: "key:value" })}
      {field("created_after", "Created after", { type: "datetime-local" })}
      {field("created_before", "Created before", { type: "datetime-local" })}
      <button type="submit">Apply</button>
      <button
        type="button"
        className="quiet"
        onClick={() => {
          setDraft({});
          onChange({});
        }}
      >
        Clear
      </button>
    </form>
  );
}

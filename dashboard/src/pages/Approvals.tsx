// The approvals inbox: what people are asked to decide, filtered by status and assignee, decided from here.
import { api, query } from "../api";
import { time } from "../format";
import { useLoad } from "../hooks";
import type { Approval } from "../model/approvals";
import { Link, navigate } from "../router";
import { Decide, Decisions } from "../components/Decide";
import { ProblemView, StatusBadge } from "../components/Problem";

const STATUSES = ["pending", "approved", "rejected", "timed_out", "cancelled"];

export function Approvals({ search }: { search: URLSearchParams }) {
  const status = search.get("status") ?? "pending";
  const assignee = search.get("assignee") ?? "";
  const list = useLoad(
    () => api.get<{ data: Approval[] }>(`/v1/approvals${query({ status, assignee })}`),
    [status, assignee],
    10_000,
  );
  const filter = (next: Record<string, string>) => navigate(`/approvals${query({ status, assignee, ...next })}`, true);
  return (
    <section>
      <h1>Approvals</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter approvals">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => filter({ status: e.target.value })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace("_", " ")}
              </option>
            ))}
          </select>
        </label>
        <label>
          Assignee{" "}
          <input
            defaultValue={assignee}
            placeholder="an address or a user id"
            onBlur={(e) => filter({ assignee: e.target.value.trim() })}
            onKeyDown={(e) => e.key === "Enter" && filter({ assignee: e.currentTarget.value.trim() })}
          />
        </label>
      </form>
      <ProblemView error={list.error} />
      {list.data && list.data.data.length === 0 && <p className="empty">No {status.replace("_", " ")} approvals.</p>}
      {list.data?.data.map((a) => (
        <article key={a.id} className="panel" aria-label={a.title}>
          <h2>
            {a.title} <StatusBadge status={a.status} />
          </h2>
          {a.message && <p>{a.message}</p>}
          <p>
            {a.quorum} of {a.approvers.join(", ")} · asked {time(a.created_at)}
            {a.expires_at ? ` · closes ${time(a.expires_at)}` : ""} ·{" "}
            <Link to={`/executions/${a.execution_id}`}>
              {a.execution_id} / {a.node_id}
            </Link>
          </p>
          <Decisions approval={a} />
          <Decide approval={a} onDecided={list.reload} />
        </article>
      ))}
    </section>
  );
}

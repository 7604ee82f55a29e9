// Deciding an approval from the dashboard, as one of its approvers (POST /v1/approvals/:id/decisions): the inbox and
// the inspector of a waiting approval node both use it.
import { useState } from "react";
import { api } from "../api";
import { time } from "../format";
import { undecided, type Approval } from "../model/approvals";
import { useLoad } from "../hooks";
import { ProblemView, StatusBadge } from "./Problem";

export function Decide({ approval, onDecided }: { approval: Approval; onDecided: () => void }) {
  const open = undecided(approval);
  const [as, setAs] = useState(open[0] ?? "");
  const [comment, setComment] = useState("");
  const [data, setData] = useState(approval.form ? "{}" : "");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const decide = async (decision: "approve" | "reject") => {
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { as, decision };
      if (comment.trim()) body.comment = comment.trim();
      if (data.trim()) body.data = JSON.parse(data);
      await api.post(`/v1/approvals/${approval.id}/decisions`, body);
      onDecided();
    } catch (err) {
      setError(err instanceof SyntaxError ? new Error(`The data is not JSON: ${err.message}`) : (err as Error));
    } finally {
      setBusy(false);
    }
  };
  if (approval.status !== "pending" || open.length === 0) return null;
  const id = (name: string) => `${approval.id}-${name}`;
  return (
    <form className="panel decide" aria-label={`Decide ${approval.title}`} onSubmit={(e) => e.preventDefault()}>
      <label htmlFor={id("as")}>Decide as</label>
      <select id={id("as")} value={as} onChange={(e) => setAs(e.target.value)}>
        {open.map((who) => (
          <option key={who}>{who}</option>
        ))}
      </select>
      {approval.form && (
        <>
          <label htmlFor={id("data")}>Data (JSON, checked against the approval's form)</label>
          <textarea id={id("data")} rows={3} value={data} onChange={(e) => setData(e.target.value)} />
        </>
      )}
      <label htmlFor={id("comment")}>Comment</label>
      <input id={id("comment")} value={comment} onChange={(e) => setComment(e.target.value)} />
      <div className="buttons">
        <button type="button" disabled={busy} onClick={() => void decide("approve")}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => void decide("reject")}>
          Reject
        </button>
      </div>
      <ProblemView error={error} />
    </form>
  );
}

/** Who decided what, when and how. */
export function Decisions({ approval }: { approval: Approval }) {
  if (!approval.decisions.length) return <p className="empty">No decision yet.</p>;
  return (
    <ul className="decisions">
      {approval.decisions.map((d) => (
        <li key={d.approver}>
          <strong>{d.approver}</strong> {d.decision === "approve" ? "approved" : "rejected"} {time(d.decided_at)} (
          {d.via === "link" ? "by link" : "in the API"}){d.comment ? `: ${d.comment}` : ""}
        </li>
      ))}
    </ul>
  );
}

/** The approval a waiting approval node asks for, decided from the inspector. */
export function ApprovalPanel({ id }: { id: string }) {
  const loaded = useLoad(() => api.get<Approval>(`/v1/approvals/${id}`), [id], 5_000);
  const a = loaded.data;
  return (
    <>
      <h3>Approval</h3>
      <ProblemView error={loaded.error} />
      {a && (
        <>
          <p>
            <strong>{a.title}</strong> <StatusBadge status={a.status} /> — {a.quorum} of {a.approvers.join(", ")}
            {a.expires_at ? `, closes ${time(a.expires_at)}` : ""}
          </p>
          <Decisions approval={a} />
          <Decide approval={a} onDecided={loaded.reload} />
        </>
      )}
    </>
  );
}

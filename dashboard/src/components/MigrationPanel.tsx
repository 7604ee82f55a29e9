// Moving a workflow's unfinished runs from one version to another (POST /v1/workflows/:id/migrations), beside the
// version diff: first the dry run (which runs can move, and why the rest cannot, decided by each run's own object),
// then the move of the movable ones. Nothing moves without the second click.
import { useState, type FormEvent } from "react";
import type { MigrationReport as Report } from "../../../src/engine/migration";
import { api } from "../api";
import { Link } from "../router";
import { ProblemView } from "./Problem";

const runs = (n: number) => `${n} run${n === 1 ? "" : "s"}`;

export function MigrationPanel(props: { workflowId: string; from: number; to: number }) {
  const { workflowId, from, to } = props;
  const [nodeMap, setNodeMap] = useState("");
  const [dry, setDry] = useState<Report | null>(null);
  const [done, setDone] = useState<Report | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [asked, setAsked] = useState({ from, to });
  if (asked.from !== from || asked.to !== to) {
    // Another pair of versions: the last report was about the old pair.
    setAsked({ from, to });
    setDry(null);
    setDone(null);
  }
  const ask = async (dryRun: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const node_map = nodeMap.trim() ? (JSON.parse(nodeMap) as Record<string, string>) : {};
      const report = await api.post<Report>(`/v1/workflows/${workflowId}/migrations`, {
        from,
        to,
        node_map,
        dry_run: dryRun,
      });
      if (dryRun) {
        setDry(report);
        setDone(null);
      } else setDone(report);
    } catch (err) {
      setError(err instanceof SyntaxError ? new Error(`node_map is not JSON: ${err.message}`) : (err as Error));
    } finally {
      setBusy(false);
    }
  };
  const check = (e: FormEvent) => {
    e.preventDefault();
    void ask(true);
  };
  const blocked = (done ?? dry)?.executions.filter((x) => !x.movable) ?? [];
  return (
    <form className="migration" onSubmit={check} aria-label={`Move runs from v${from} to v${to}`}>
      <h3>
        Unfinished runs of v{from} → v{to}
      </h3>
      <label>
        Renamed nodes (node_map, JSON, optional){" "}
        <input value={nodeMap} onChange={(e) => setNodeMap(e.target.value)} placeholder='{"old_id": "new_id"}' />
      </label>{" "}
      <button type="submit" disabled={busy || from === to}>
        Check runs on v{from}
      </button>
      <ProblemView error={error} />
      {dry && (
        <p className="migration-summary" aria-live="polite">
          {runs(dry.total)} unfinished on v{from}: {dry.movable} movable to v{to}, {dry.blocked} blocked
          {dry.truncated ? " (the first 10,000 only)" : ""}
        </p>
      )}
      {dry && dry.movable > 0 && !done && (
        <button type="button" disabled={busy} onClick={() => void ask(false)}>
          Move {runs(dry.movable)} to v{to}
        </button>
      )}
      {done && (
        <p className="migration-done" role="status">
          Moved {runs(done.moved)} to v{to}
          {done.blocked ? `; ${runs(done.blocked)} ${done.blocked === 1 ? "stays" : "stay"} on v${from}` : ""}
        </p>
      )}
      {blocked.length > 0 && (
        <table className="list">
          <caption>Blocked, with the reason</caption>
          <thead>
            <tr>
              <th scope="col">Execution</th>
              <th scope="col">Why it cannot move</th>
            </tr>
          </thead>
          <tbody>
            {blocked.slice(0, 100).map((x) => (
              <tr key={x.execution_id}>
                <td>
                  <Link to={`/executions/${x.execution_id}`}>{x.execution_id}</Link>
                </td>
                <td>{x.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </form>
  );
}

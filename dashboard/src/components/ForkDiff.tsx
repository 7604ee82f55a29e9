// A fork's changes against the run it was forked from (GET /v1/executions/:id/diff): per node unchanged, changed,
// new, skipped or removed, each changed output path with its value before and after, and what the model calls cost.
import { useEffect, useState } from "react";
import { api } from "../api";
import { money } from "../format";
import { Link } from "../router";

interface Diff {
  nodes: {
    node_id: string;
    status: string;
    changes: { path: string; before: unknown; after: unknown }[];
    changes_truncated: boolean;
  }[];
  cost_usd: { this: number; against: number; difference: number };
  llm_calls: { this: number; against: number };
}

const short = (v: unknown) => {
  const text = JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
};

export function ForkDiff(props: { id: string; source: string; fromNode: string; seq: number }) {
  const [diff, setDiff] = useState<Diff | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .get<Diff>(`/v1/executions/${props.id}/diff?against=${props.source}`)
      .then(setDiff, (err: Error) => setError(err.message));
    // Asked again as the fork moves on (its seq), so the table fills in while it runs.
  }, [props.id, props.source, props.seq]);
  return (
    <section className="fork-diff" aria-label="Changes against the source">
      <h2>
        Changes against <Link to={`/executions/${props.source}`}>{props.source}</Link> (forked at {props.fromNode})
      </h2>
      {error && <p className="problem">{error}</p>}
      {diff && (
        <>
          <p>
            Model calls {diff.llm_calls.this} (source {diff.llm_calls.against}); cost {money(diff.cost_usd.this)}{" "}
            (source {money(diff.cost_usd.against)}, difference {money(diff.cost_usd.difference)})
          </p>
          <table>
            <thead>
              <tr>
                <th>Node</th>
                <th>Compared with the source</th>
                <th>Output changes</th>
              </tr>
            </thead>
            <tbody>
              {diff.nodes.map((n) => (
                <tr key={n.node_id} className={`diff-${n.status}`}>
                  <td>{n.node_id}</td>
                  <td>{n.status}</td>
                  <td>
                    {n.changes.map((c) => (
                      <div key={c.path}>
                        <code>{c.path}</code>: <del>{short(c.before)}</del> → <ins>{short(c.after)}</ins>
                      </div>
                    ))}
                    {n.changes_truncated && <div>…more paths changed</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

// LLM calls, tokens and cost per workflow and model, per month: six months as bars, the chosen month as a table.
import { useState } from "react";
import { api } from "../api";
import { money } from "../format";
import { useLoad } from "../hooks";
import { Link } from "../router";
import { ProblemView } from "../components/Problem";

interface UsageRow {
  workflow_id: string;
  provider: string;
  model: string;
  calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}
interface Month {
  month: string;
  total_usd: number;
  data: UsageRow[];
}

function lastMonths(n: number): string[] {
  const d = new Date();
  return Array.from({ length: n }, (_, i) => {
    const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - (n - 1 - i), 1));
    return m.toISOString().slice(0, 7);
  });
}

export function Usage() {
  const months = lastMonths(6);
  const all = useLoad(() => Promise.all(months.map((m) => api.get<Month>(`/v1/usage?month=${m}`))), [months.join()]);
  const [chosen, setChosen] = useState(months.at(-1)!);
  const data = all.data ?? [];
  const max = Math.max(0.0001, ...data.map((m) => m.total_usd));
  const tokens = (m: Month) => m.data.reduce((s, r) => s + r.input_tokens + r.output_tokens, 0);
  const month = data.find((m) => m.month === chosen);
  return (
    <section>
      <h1>Usage</h1>
      <ProblemView error={all.error} />
      <figure className="chart">
        <figcaption>LLM cost per month (USD); choose a month for its breakdown</figcaption>
        <div className="bars">
          {data.map((m) => (
            <button
              type="button"
              key={m.month}
              className="bar-col"
              aria-pressed={m.month === chosen}
              onClick={() => setChosen(m.month)}
            >
              <span className="bar-value">{money(m.total_usd)}</span>
              <span className="bar" style={{ height: `${(100 * m.total_usd) / max}%` }} />
              <span className="bar-label">
                {m.month}
                <span className="sr-only">, {tokens(m)} tokens</span>
              </span>
            </button>
          ))}
        </div>
      </figure>
      <h2>{chosen}</h2>
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Workflow</th>
            <th scope="col">Model</th>
            <th scope="col">Calls</th>
            <th scope="col">Input tokens</th>
            <th scope="col">Output tokens</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {month?.data.map((r) => (
            <tr key={`${r.workflow_id}/${r.provider}/${r.model}`}>
              <td>
                <Link to={`/workflows/${r.workflow_id}`}>{r.workflow_id}</Link>
              </td>
              <td>
                {r.provider}:{r.model}
              </td>
              <td>{r.calls}</td>
              <td>{r.input_tokens}</td>
              <td>{r.output_tokens}</td>
              <td>{money(r.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {month && month.data.length === 0 && <p className="empty">No LLM calls this month.</p>}
    </section>
  );
}

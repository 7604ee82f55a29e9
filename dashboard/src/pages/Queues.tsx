// What admission sees (GET /v1/queues): the tenant's running slots, and what runs and waits per lane, per workflow
// and per concurrency key. Refreshed every 2 s while the tab is visible.
import type { ProviderWindow } from "../../../src/engine/provider-limit";
import { api } from "../api";
import { useLoad } from "../hooks";
import { Link } from "../router";
import { ProblemView } from "../components/Problem";

interface Counts {
  running: number;
  queued: number;
}
/** Runs that gave their slot back while they wait (an event, an approval, a child, a long sleep). */
interface Parked {
  parked: number;
}
interface Queues {
  slots: Counts & Parked & { capacity: number };
  lanes: (Counts & Parked & { lane: string })[];
  workflows: (Counts & Parked & { workflow_id: string; lane: string })[];
  keys: (Counts & { key: string })[];
  providers: ProviderWindow[];
  provider_limits_error: string | null;
}

const of = (used: number, limit: number | null) => (limit === null ? `${used}` : `${used} of ${limit}`);

function CountTable<T extends Counts & Partial<Parked>>(props: {
  caption: string;
  /** Show the parked column (slots are lent back; concurrency keys are not). */
  parked?: boolean;
  head: string[];
  rows: T[];
  rowKey: (r: T) => string;
  cells: (r: T) => React.ReactNode[];
  empty: string;
}) {
  return (
    <>
      <table className="list">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {[...props.head, "Running", "Queued", ...(props.parked ? ["Parked"] : [])].map((h) => (
              <th scope="col" key={h}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={props.rowKey(r)}>
              {props.cells(r).map((c, i) => (
                <td key={i}>{c}</td>
              ))}
              <td>{r.running}</td>
              <td>{r.queued}</td>
              {props.parked && <td>{r.parked ?? 0}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      {props.rows.length === 0 && <p className="empty">{props.empty}</p>}
    </>
  );
}

export function Queues() {
  const q = useLoad(() => api.get<Queues>("/v1/queues"), [], 2_000);
  const d = q.data;
  return (
    <section>
      <h1>Queues</h1>
      <ProblemView error={q.error} />
      {d && (
        <>
          <p className="slots" aria-live="polite">
            <meter min={0} max={d.slots.capacity} value={d.slots.running} aria-label="Running slots in use" />{" "}
            {d.slots.running} of {d.slots.capacity} running slots in use, {d.slots.queued} waiting for one,{" "}
            {d.slots.parked} parked (waiting for an event, an approval, a child or a timer, without a slot)
          </p>
          <CountTable
            caption="Lanes (under contention they share releases 16 : 4 : 1)"
            head={["Lane"]}
            parked
            rows={d.lanes}
            rowKey={(r) => r.lane}
            cells={(r) => [r.lane]}
            empty="No lanes."
          />
          <CountTable
            caption="Workflows, the most queued first"
            head={["Workflow", "Lane"]}
            parked
            rows={d.workflows}
            rowKey={(r) => `${r.workflow_id}/${r.lane}`}
            cells={(r) => [<Link to={`/workflows/${r.workflow_id}`}>{r.workflow_id}</Link>, r.lane]}
            empty="Nothing runs or waits for a slot."
          />
          <CountTable
            caption="Concurrency keys (one run at a time each)"
            head={["Key"]}
            rows={d.keys}
            rowKey={(r) => r.key}
            cells={(r) => [<code>{r.key}</code>]}
            empty="No concurrency key is held."
          />
          <table className="list">
            <caption>Provider windows (every tenant's calls; interactive runs keep a fifth)</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Requests in window</th>
                <th scope="col">Tokens in window</th>
                <th scope="col">Window</th>
              </tr>
            </thead>
            <tbody>
              {d.providers.map((p) => (
                <tr key={p.bucket}>
                  <td>
                    <code>{p.bucket}</code>
                  </td>
                  <td>{of(p.requests, p.rpm)}</td>
                  <td>{of(p.tokens, p.tpm)}</td>
                  <td>{p.window_seconds} s</td>
                </tr>
              ))}
            </tbody>
          </table>
          {d.provider_limits_error && <p className="problem">{d.provider_limits_error}</p>}
          {d.providers.length === 0 && !d.provider_limits_error && (
            <p className="empty">No provider is metered (PROVIDER_LIMITS is empty): calls go out as they come.</p>
          )}
        </>
      )}
    </section>
  );
}

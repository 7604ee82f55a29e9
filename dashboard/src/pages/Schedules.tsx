import { useState } from "react";
import { api } from "../api";
import { time } from "../format";
import { useLoad } from "../hooks";
import { Link } from "../router";
import { ProblemView, StatusBadge } from "../components/Problem";

interface Schedule {
  id: string;
  workflow_id: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  disabled_reason: string | null;
  overlap: string;
  next_run_at: string | null;
  last_run_at: string | null;
  last_execution_id: string | null;
}
interface Monitor {
  id: string;
  name: string;
  check: { kind: string; url?: string };
  interval_seconds: number;
  enabled: boolean;
  status: string;
  consecutive_failures: number;
  consecutive_unreachable: number;
  next_check_at: string | null;
  last_checked_at: string | null;
  expires_at: string | null;
}

export function Schedules() {
  const schedules = useLoad(() => api.get<{ data: Schedule[] }>("/v1/schedules"), [], 10_000);
  const monitors = useLoad(() => api.get<{ data: Monitor[] }>("/v1/monitors"), [], 10_000);
  const [openSchedule, setOpenSchedule] = useState<string | null>(null);
  const [openMonitor, setOpenMonitor] = useState<string | null>(null);
  return (
    <section>
      <h1>Schedules &amp; monitors</h1>
      <h2>Schedules</h2>
      <ProblemView error={schedules.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Workflow</th>
            <th scope="col">Cron</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col">State</th>
            <th scope="col">Recent runs</th>
          </tr>
        </thead>
        <tbody>
          {schedules.data?.data.map((s) => (
            <tr key={s.id}>
              <td>
                <Link to={`/workflows/${s.workflow_id}`}>{s.workflow_id}</Link>
              </td>
              <td>
                <code>{s.cron}</code> {s.timezone}
              </td>
              <td>{time(s.next_run_at)}</td>
              <td>
                {s.last_execution_id ? (
                  <Link to={`/executions/${s.last_execution_id}`}>{time(s.last_run_at)}</Link>
                ) : (
                  time(s.last_run_at)
                )}
              </td>
              <td>
                {s.enabled
                  ? `enabled, overlap ${s.overlap}`
                  : `disabled${s.disabled_reason ? `: ${s.disabled_reason}` : ""}`}
              </td>
              <td>
                <button
                  type="button"
                  className="link"
                  aria-expanded={openSchedule === s.id}
                  onClick={() => setOpenSchedule(openSchedule === s.id ? null : s.id)}
                >
                  {openSchedule === s.id ? "Hide" : "Show"} runs
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {schedules.data?.data.length === 0 && <p className="empty">No schedules.</p>}
      {openSchedule && <ScheduleRuns id={openSchedule} />}
      <h2>Monitors</h2>
      <ProblemView error={monitors.error} />
      <table className="list">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Check</th>
            <th scope="col">Status</th>
            <th scope="col">Last checked</th>
            <th scope="col">Next check</th>
            <th scope="col">History</th>
          </tr>
        </thead>
        <tbody>
          {monitors.data?.data.map((m) => (
            <tr key={m.id}>
              <td>{m.name}</td>
              <td>
                {m.check.kind} <code>{m.check.url ?? ""}</code> every {m.interval_seconds} s
              </td>
              <td>
                <StatusBadge status={m.enabled ? m.status : "disabled"} />
                {m.consecutive_failures > 0 ? ` ${m.consecutive_failures} failing` : ""}
                {m.consecutive_unreachable > 0 ? ` ${m.consecutive_unreachable} unreachable` : ""}
              </td>
              <td>{time(m.last_checked_at)}</td>
              <td>{time(m.next_check_at)}</td>
              <td>
                <button
                  type="button"
                  className="link"
                  aria-expanded={openMonitor === m.id}
                  onClick={() => setOpenMonitor(openMonitor === m.id ? null : m.id)}
                >
                  {openMonitor === m.id ? "Hide" : "Show"} checks and alerts
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {monitors.data?.data.length === 0 && <p className="empty">No monitors.</p>}
      {openMonitor && <MonitorHistory id={openMonitor} />}
    </section>
  );
}

function ScheduleRuns({ id }: { id: string }) {
  const runs = useLoad(
    () =>
      api.get<{ data: { scheduled_at: string; status: string; execution_id: string | null; reason: string | null }[] }>(
        `/v1/schedules/${id}/runs`,
      ),
    [id],
    10_000,
  );
  return (
    <section className="panel" aria-label="Recent runs">
      <h3>Recent runs</h3>
      <ProblemView error={runs.error} />
      <table className="list compact">
        <thead>
          <tr>
            <th scope="col">Scheduled for</th>
            <th scope="col">Outcome</th>
            <th scope="col">Execution or reason</th>
          </tr>
        </thead>
        <tbody>
          {runs.data?.data.map((r) => (
            <tr key={r.scheduled_at}>
              <td>{time(r.scheduled_at)}</td>
              <td>{r.status}</td>
              <td>{r.execution_id ? <Link to={`/executions/${r.execution_id}`}>{r.execution_id}</Link> : r.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.data?.data.length === 0 && <p className="empty">It has not run yet.</p>}
    </section>
  );
}

function MonitorHistory({ id }: { id: string }) {
  const checks = useLoad(
    () =>
      api.get<{ data: { at: string; ok: boolean; latency_ms: number | null; error: string | null }[] }>(
        `/v1/monitors/${id}/checks`,
      ),
    [id],
    10_000,
  );
  const alerts = useLoad(
    () =>
      api.get<{
        data: {
          id: string;
          kind: string;
          created_at: string;
          delivered_at: string | null;
          attempts: number;
          last_error: string | null;
        }[];
      }>(`/v1/monitors/${id}/alerts`),
    [id],
    10_000,
  );
  return (
    <section className="panel" aria-label="Monitor history">
      <h3>Checks</h3>
      <ProblemView error={checks.error ?? alerts.error} />
      <ol className="checks" tabIndex={0} aria-label="Check history, newest first">
        {checks.data?.data.map((c, i) => (
          <li key={i} className={c.ok ? "ok" : "bad"} title={`${time(c.at)} ${c.ok ? "ok" : (c.error ?? "failed")}`}>
            {time(c.at)} {c.ok ? "ok" : `failed: ${c.error ?? ""}`}{" "}
            {c.latency_ms !== null ? `(${c.latency_ms} ms)` : ""}
          </li>
        ))}
      </ol>
      <h3>Alerts</h3>
      <table className="list compact">
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Raised</th>
            <th scope="col">Delivered</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {alerts.data?.data.map((a) => (
            <tr key={a.id}>
              <td>{a.kind}</td>
              <td>{time(a.created_at)}</td>
              <td>{time(a.delivered_at)}</td>
              <td>{a.attempts}</td>
              <td>{a.last_error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {alerts.data?.data.length === 0 && <p className="empty">No alerts sent.</p>}
    </section>
  );
}

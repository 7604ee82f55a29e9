import { useState } from "react";
import type { EventEnvelope } from "../model/types";

const SHOWN = 300;

function summary(e: EventEnvelope): string {
  const text = JSON.stringify(e.data);
  return text === "{}" ? "" : text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

/** The execution's event log with seq; choosing a row shows the graph as it was after that event. */
export function EventLog(props: {
  events: readonly EventEnvelope[];
  at: number | null;
  onPick: (seq: number) => void;
}) {
  const [all, setAll] = useState(false);
  const shown = all ? props.events : props.events.slice(-SHOWN);
  return (
    <div className="event-log" tabIndex={0} aria-label="Event log">
      {!all && props.events.length > SHOWN && (
        <button type="button" className="quiet" onClick={() => setAll(true)}>
          Show all {props.events.length} events
        </button>
      )}
      <table className="list compact">
        <thead>
          <tr>
            <th scope="col">seq</th>
            <th scope="col">time</th>
            <th scope="col">type</th>
            <th scope="col">node</th>
            <th scope="col">attempt</th>
            <th scope="col">data</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.seq} data-seq={e.seq} className={props.at === e.seq ? "current" : undefined}>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => props.onPick(e.seq)}
                  aria-label={`Show the run at seq ${e.seq}`}
                >
                  {e.seq}
                </button>
              </td>
              <td>{new Date(e.at).toLocaleTimeString(undefined, { hour12: false })}</td>
              <td>{e.type}</td>
              <td>{e.node_id ?? ""}</td>
              <td>{e.attempt ?? ""}</td>
              <td className="data">{summary(e)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

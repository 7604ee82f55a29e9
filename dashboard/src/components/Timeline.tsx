// A Gantt chart of the run: one row per node, a bar per attempt, retry delay and wait, on one time axis.
import { useState } from "react";
import { duration } from "../format";
import type { Span } from "../model/replay";

const ROWS = 200;

export function Timeline({ spans, order, now }: { spans: readonly Span[]; order: readonly string[]; now: number }) {
  const [all, setAll] = useState(false);
  if (spans.length === 0) return <p className="empty">Nothing has run yet.</p>;
  const start = Math.min(...spans.map((s) => s.start));
  const end = Math.max(now, ...spans.map((s) => s.end ?? now));
  const total = Math.max(end - start, 1);
  const byNode = new Map<string, Span[]>();
  for (const s of spans) byNode.set(s.node_id, [...(byNode.get(s.node_id) ?? []), s]);
  const ran = order.filter((id) => byNode.has(id));
  const rows = all ? ran : ran.slice(0, ROWS);
  return (
    <div className="timeline" tabIndex={0} role="table" aria-label="Timeline of attempts, retry delays and waits">
      <div className="tl-axis" role="row">
        <span role="columnheader">node</span>
        <span role="columnheader" className="tl-scale">
          <span>0</span>
          <span>{duration(total / 2)}</span>
          <span>{duration(total)}</span>
        </span>
      </div>
      {rows.map((id) => (
        <div className="tl-row" role="row" key={id} data-node={id}>
          <span role="rowheader" className="tl-name">
            {id}
          </span>
          <span role="cell" className="tl-track">
            {byNode.get(id)!.map((s, i) => {
              const length = (s.end ?? now) - s.start;
              const what =
                s.kind === "attempt"
                  ? `attempt ${s.attempt}${s.outcome ? `: ${s.outcome}` : " (running)"}`
                  : s.kind === "retry_delay"
                    ? `retry delay after attempt ${s.attempt}`
                    : `waiting${s.end === null ? "" : `: ${s.outcome ?? "done"}`}`;
              return (
                <span
                  key={i}
                  className={`tl-bar ${s.kind} ${s.outcome ? `outcome-${s.outcome}` : "open"}`}
                  style={{
                    left: `${(100 * (s.start - start)) / total}%`,
                    width: `max(3px, ${(100 * length) / total}%)`,
                  }}
                  title={`${id} ${what}, ${duration(length)}`}
                  data-kind={s.kind}
                />
              );
            })}
          </span>
        </div>
      ))}
      {rows.length < ran.length && (
        <button type="button" className="quiet" onClick={() => setAll(true)}>
          Show all {ran.length} nodes
        </button>
      )}
      <p className="tl-legend">
        <span className="tl-key attempt" /> attempt <span className="tl-key retry_delay" /> retry delay{" "}
        <span className="tl-key wait" /> wait
      </p>
    </div>
  );
}

// A line per key of one numeric field over time (e.g. each topic's mean reward), drawn as SVG with its own axes; the
// same numbers are in the table below it for screen readers and copying.
import type { Series } from "../model/series";

const W = 760;
const H = 260;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#4b5563"];

export function ResultsChart({ series, field }: { series: Series[]; field: string }) {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) return <p className="empty">No numbers in {field} yet.</p>;
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t), t0 + 1);
  const v0 = Math.min(0, ...points.map((p) => p.v));
  const v1 = Math.max(...points.map((p) => p.v), v0 + 1e-9);
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - ((v - v0) / (v1 - v0)) * (H - PAD.top - PAD.bottom);
  const ticks = [v0, (v0 + v1) / 2, v1];
  const label = (t: number) => new Date(t).toLocaleString();
  return (
    <figure className="chart results-chart">
      <figcaption>
        {field} over time, one line per key ({series.length} {series.length === 1 ? "key" : "keys"})
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${field} per key over time`}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} className="grid" />
            <text x={PAD.left - 6} y={y(v) + 4} textAnchor="end" className="tick">
              {Number(v.toPrecision(3))}
            </text>
          </g>
        ))}
        <text x={PAD.left} y={H - 8} className="tick">
          {label(t0)}
        </text>
        <text x={W - PAD.right} y={H - 8} textAnchor="end" className="tick">
          {label(t1)}
        </text>
        {series.map((s, i) => {
          const color = COLORS[i % COLORS.length];
          return (
            <g key={s.key} data-series={s.key}>
              <polyline
                fill="none"
                stroke={color}
                strokeWidth={2}
                points={s.points.map((p) => `${x(p.t)},${y(p.v)}`).join(" ")}
              />
              {s.points.map((p) => (
                <circle key={p.execution_id} cx={x(p.t)} cy={y(p.v)} r={3} fill={color}>
                  <title>
                    {s.key}: {p.v} at {label(p.t)}
                  </title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <ul className="legend">
        {series.map((s, i) => (
          <li key={s.key}>
            <span className="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" />
            {s.key} <small>({s.points.length})</small>
          </li>
        ))}
      </ul>
    </figure>
  );
}

// A map node's items as a stacked bar: succeeded, failed, running, the rest pending.
const ORDER = ["succeeded", "failed", "running", "retrying", "waiting", "skipped", "cancelled"];

export function ItemsBar({ items, compact = false }: { items: Record<string, number>; compact?: boolean }) {
  // The API counts items by status and gives their `total` alongside.
  const total = items.total ?? Object.entries(items).reduce((a, [k, n]) => (k === "total" ? a : a + n), 0);
  if (total === 0) return null;
  const done = (items.succeeded ?? 0) + (items.failed ?? 0) + (items.skipped ?? 0) + (items.cancelled ?? 0);
  const label = `${done} of ${total} items done${items.failed ? `, ${items.failed} failed` : ""}`;
  return (
    <div className={compact ? "items compact" : "items"}>
      <div
        className="items-bar"
        role="progressbar"
        aria-label="Map items"
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={done}
        aria-valuetext={label}
      >
        {ORDER.map((s) =>
          items[s] ? (
            <span
              key={s}
              className={`seg status-${s}`}
              style={{ width: `${(100 * items[s]) / Math.max(total, 1)}%` }}
            />
          ) : null,
        )}
      </div>
      <span className="items-label">{label}</span>
    </div>
  );
}

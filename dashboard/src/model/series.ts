// Results as time series: which fields of their values are numbers, and one series per key over time, for the
// Results page's chart. Pure, so the unit tests check it without a browser.

export interface ResultRow {
  workflow_id: string;
  name: string;
  key: string | null;
  execution_id: string;
  node_id: string;
  created_at: string;
  value: unknown;
}

export interface Series {
  key: string;
  points: { t: number; v: number; execution_id: string }[];
}

/** Dotted paths (up to two levels deep) holding a finite number in at least one value, in first-seen order. */
export function numericFields(values: readonly unknown[]): string[] {
  const found: string[] = [];
  const visit = (v: unknown, path: string, depth: number) => {
    if (typeof v === "number" && Number.isFinite(v)) {
      if (!found.includes(path)) found.push(path);
      return;
    }
    if (depth >= 2 || !v || typeof v !== "object" || Array.isArray(v)) return;
    for (const [k, child] of Object.entries(v)) visit(child, path ? `${path}.${k}` : k, depth + 1);
  };
  for (const v of values) visit(v, "", 0);
  return found;
}

export function valueAt(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path ? path.split(".") : [])
    v = v && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** One series per key (no key: "(no key)"), points oldest first; a value without the field is left out, not zero. */
export function seriesOf(rows: readonly ResultRow[], field: string): Series[] {
  const byKey = new Map<string, Series>();
  for (const r of rows) {
    const v = valueAt(r.value, field);
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    const key = r.key ?? "(no key)";
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { key, points: [] }));
    s.points.push({ t: Date.parse(r.created_at), v, execution_id: r.execution_id });
  }
  for (const s of byKey.values()) s.points.sort((a, b) => a.t - b.t);
  return [...byKey.values()];
}

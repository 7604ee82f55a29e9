// Structured log lines: one JSON object per line, written when their level reaches LOG_LEVEL ([vars], default info).
// Each line is Worker CPU (~0.05 ms; ~0.7 ms with a DevTools inspector attached, as the `wrangler dev` CLI always
// does), so a deployment that does not read request lines can set LOG_LEVEL = "warn" and keep warnings and errors.
export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Whether a line at `level` is written under `least` (LOG_LEVEL). */
export const logs = (least: Level, level: Level): boolean => RANK[level] >= RANK[least];

/** The line at `level`, or null when LOG_LEVEL keeps it out (so a caller can write it later, off the hot path). */
export function logLine(least: Level, level: Level, msg: string, fields: Record<string, unknown> = {}): string | null {
  return logs(least, level) ? JSON.stringify({ level, msg, ...fields }) : null;
}

/** Write one line at `level` if LOG_LEVEL lets it through. */
export function log(least: Level, level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line = logLine(least, level, msg, fields);
  if (line !== null) console.log(line);
}

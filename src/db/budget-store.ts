// The TenantObject's LLM ledger: month-to-date spend and the reservations of calls under way, so a budget is
// checked and taken in one step however many calls run at once.

export class BudgetStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS llm_month (month TEXT PRIMARY KEY, base REAL NOT NULL, settled REAL NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS llm_reservations (id TEXT PRIMARY KEY, month TEXT NOT NULL, amount REAL NOT NULL,
        expires_at INTEGER NOT NULL);`);
  }

  /** Whether the month's ledger exists; when not, the caller starts it from D1's spend (`base`). */
  hasMonth(month: string): boolean {
    return this.sql.exec("SELECT 1 FROM llm_month WHERE month = ?", month).toArray().length > 0;
  }

  openMonth(month: string, base: number): void {
    this.sql.exec("INSERT INTO llm_month (month, base) VALUES (?, ?) ON CONFLICT (month) DO NOTHING", month, base);
  }

  /** Spent (what D1 had when the month opened, plus every call settled since) and reserved (live reservations). */
  position(month: string, now: number): { spent: number; reserved: number } {
    this.sql.exec("DELETE FROM llm_reservations WHERE expires_at <= ?", now);
    const m = this.sql
      .exec<{ base: number; settled: number }>("SELECT base, settled FROM llm_month WHERE month = ?", month)
      .one();
    const r = this.sql
      .exec<{ n: number }>("SELECT coalesce(sum(amount), 0) AS n FROM llm_reservations WHERE month = ?", month)
      .one();
    return { spent: m.base + m.settled, reserved: r.n };
  }

  reserve(id: string, month: string, amount: number, expiresAt: number): void {
    this.sql.exec(
      "INSERT INTO llm_reservations (id, month, amount, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      id,
      month,
      amount,
      expiresAt,
    );
  }

  /** Replace a reservation with what the call really cost (once: a second settle of the same id changes nothing). */
  settle(id: string, cost: number): void {
    const [held] = this.sql
      .exec<{ month: string }>("DELETE FROM llm_reservations WHERE id = ? RETURNING month", id)
      .toArray();
    // The month the call was reserved in: a call that crosses midnight at month's end counts where it began.
    if (held) this.sql.exec("UPDATE llm_month SET settled = settled + ? WHERE month = ?", cost, held.month);
  }
}

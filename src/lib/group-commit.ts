// Group commit: writes submitted while one is in flight go out together in the next, so N concurrent writers cost
// one round trip per group instead of N. Used by the TenantObject for its executions' final projections to D1.

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * One write in flight at a time; whatever is submitted meanwhile (up to `max` items) is written next, as one call.
 * An idle submitter is written at once, so nothing waits on a timer. A group whose write fails is retried item by
 * item, so one item that can never be written fails alone and the others still land.
 */
export class GroupCommit<T> {
  private readonly waiting: Waiting<T>[] = [];
  private draining = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly max: number,
  ) {
    if (!(max >= 1)) throw new RangeError(`a group holds at least one item, not ${max}`);
  }

  /** Resolves once `item` is written (alone or in a group); rejects with the error of its own write. */
  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.max);
        try {
          await this.write(group.map((w) => w.item));
          for (const w of group) w.resolve();
        } catch (err) {
          if (group.length === 1) (group[0] as Waiting<T>).reject(err);
          else for (const w of group) await this.write([w.item]).then(w.resolve, w.reject);
        }
      }
    } finally {
      this.draining = false;
    }
  }
}

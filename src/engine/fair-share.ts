// Which waiting execution gets the next running slot: lanes, then workflows within a lane, then concurrency keys
// within a workflow, each level by stride scheduling (weighted round robin that needs no rounds). Pure: the
// TenantObject's SlotStore keeps the passes and the queues, this decides.

export const LANES = ["interactive", "default", "batch"] as const;
export type Lane = (typeof LANES)[number];

export const isLane = (v: unknown): v is Lane => typeof v === "string" && (LANES as readonly string[]).includes(v);

/**
 * Shares of dispatch when every lane has work waiting: interactive 16, default 4, batch 1. Batch is never starved
 * (at least 1 dispatch in 21 goes to it under full contention) and takes every slot when it waits alone.
 */
export const LANE_WEIGHTS: Record<Lane, number> = { interactive: 16, default: 4, batch: 1 };

/**
 * Running slots the batch lane may hold: all but a tenth (at least one when there are two or more), so an
 * interactive start finds a slot at once however deep the batch backlog. The default lane may take every slot (an
 * interactive start then waits for the next release, which it wins).
 */
export function batchLimit(capacity: number): number {
  return capacity < 2 ? capacity : capacity - Math.max(1, Math.floor(capacity / 10));
}

export interface Contender {
  name: string;
  /** Its pass after its last dispatch; null when it has none (it has not been dispatched, or went idle). */
  pass: number | null;
  weight: number;
  /** Breaks ties: lower goes first (a lane's priority). */
  rank: number;
}

export interface Pick {
  name: string;
  /** The winner's pass after this dispatch. */
  pass: number;
  /** The scope's virtual clock after this dispatch. */
  clock: number;
}

/**
 * Stride scheduling: the contender with the smallest pass goes and its pass grows by 1/weight. A contender's pass
 * is never below the scope's clock (the pass of the last dispatch), so one that was idle or is new starts level
 * with the others instead of cashing in the time it was away: spreading over many keys or coming and going wins
 * nothing. Null when there is no contender.
 */
export function pickStride(contenders: readonly Contender[], clock: number): Pick | null {
  let best: { c: Contender; at: number } | null = null;
  for (const c of contenders) {
    const at = Math.max(c.pass ?? clock, clock);
    if (
      !best ||
      at < best.at ||
      (at === best.at && (c.rank < best.c.rank || (c.rank === best.c.rank && c.name < best.c.name)))
    )
      best = { c, at };
  }
  if (!best) return null;
  return { name: best.c.name, pass: best.at + 1 / best.c.weight, clock: best.at };
}

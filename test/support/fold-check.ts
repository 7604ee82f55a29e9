// The one fold of the event log (src/engine/fold.mjs: the dashboard's and the CLI's) held to the server's own view of
// the same execution. Every test that waits for a run to end checks it (test/support/api.ts waitFor), so every event
// sequence the suites and the reliability gates produce is folded and compared.
import { expect } from "vitest";
import { replay, type FoldEvent } from "../../src/engine/fold.mjs";

interface Getter {
  get(path: string): Promise<{ status: number; body: any }>;
}

/** The whole event log, page by page; null when it is longer than a test should fold (a 10,000-item map). */
async function eventLog(api: Getter, id: string, maxPages = 20): Promise<FoldEvent[] | null> {
  const all: FoldEvent[] = [];
  let after = 0;
  for (let page = 0; page < maxPages; page++) {
    const res = await api.get(`/v1/executions/${id}/events?after=${after}&limit=1000`);
    if (res.status !== 200) throw new Error(`GET events of ${id}: ${res.status}`);
    const data = res.body.data as FoldEvent[];
    all.push(...data);
    if (data.length < 1000) return all;
    after = res.body.next_after;
  }
  return null;
}

/**
 * Fold the log and compare what both sides have: the run's status, times and error, and per node its status,
 * attempts, times, next attempt, error, wait, child and item counts (`outputs` too when asked: an output kept in R2 is
 * a reference on both sides, but a large one makes a poor assertion message).
 */
export async function foldMatchesView(api: Getter, id: string, view: any, outputs = false) {
  const events = await eventLog(api, id);
  if (!events) return null;
  const folded = replay(
    view.nodes.map((x: any) => x.node_id),
    events,
  );
  const runOf = (r: any, error: unknown) => ({
    status: r.status,
    started_at: r.started_at,
    finished_at: r.finished_at,
    error,
  });
  expect(runOf(folded, folded.error?.code ?? null), `the fold of ${id}`).toEqual(runOf(view, view.error?.code ?? null));
  for (const node of view.nodes) {
    const f = folded.nodes[node.node_id]!;
    const side = (x: any) => ({
      status: x.status,
      attempts: x.attempts,
      started_at: x.started_at,
      finished_at: x.finished_at,
      next_attempt_at: x.next_attempt_at,
      error: x.error?.code ?? null,
      waiting_for: x.waiting_for && { event: x.waiting_for.event, until: x.waiting_for.until },
      child: typeof x.child === "string" ? x.child : (x.child?.execution_id ?? null),
      // A map that never ran: zero counts on the server, none in the log; the same thing.
      ...(node.items ? { items: x.items?.total ? x.items : null } : {}),
      ...(outputs ? { output: x.output } : {}),
    });
    expect(side(f), `node ${node.node_id} of ${id}, folded`).toEqual(side(node));
  }
  return folded;
}

// A workflow's concurrency_key rendered for one execution: by the Worker when it admits an API start, by the
// ExecutionObject for every other start. Reads only the input (references are checked at save).
import type { Definition } from "./dag";
import { render } from "./expr";
import type { Lane } from "./fair-share";

export interface RenderedKey {
  /** null: the workflow has no concurrency_key (or it rendered empty). */
  key: string | null;
  /** Why it could not be rendered; the execution then fails with concurrency_key_error. */
  error: string | null;
}

/** What an API start settled with the TenantObject before the object started: the key, and whether it may run now. */
export type Admitted = RenderedKey & { granted: boolean };

/** A place to take in the queues an execution needs: its concurrency key (if any), then one of `slots` running slots. */
export interface QueueAsk {
  executionId: string;
  key: string | null;
  slots: number;
  /** Where it waits for a slot; only the first ask of an execution places it (later ones renew). */
  lane: Lane;
  /** Its workflow: the share it waits in within its lane. */
  group: string;
}

export async function concurrencyKeyOf(
  definition: Definition,
  input: unknown,
  execution: { id: string; workflow_id: string; version: number },
): Promise<RenderedKey> {
  if (!definition.concurrency_key) return { key: null, error: null };
  try {
    const key = String((await render(definition.concurrency_key, { input, nodes: {}, execution })) ?? "") || null;
    return { key, error: null };
  } catch (err) {
    return { key: null, error: err instanceof Error ? err.message : String(err) };
  }
}

// What the execution reducer is told (inputs, named after what happened) and what it asks the shell to do
// (commands). The shape follows Temporal's workflow activator: the shell resolves activities, timers and children by
// feeding inputs, and performs the commands it gets back; the reducer itself never waits and never performs I/O.
import type { EventType } from "../events";
import type { Definition } from "../dag";
import type { ForkSeed } from "../fork";
import type { ItemCounts } from "../map";
import type { AttemptError } from "../retry";
import type { Condition } from "../scheduler";
import type { RunState } from "./state";

/** A request's Idempotency-Key and the hash of what was sent with it (an event: its name and payload). */
export type KeyedRequest = { key: string; hash: string };

/** How one attempt of a node ended, as its executor reports it. */
export type RunResult =
  /** `result_key`: the node's result key, rendered once it succeeded (nodes that declare a `result` with a key). */
  /**
   * `request_hash`: an llm node's rendered request (a fork reuses its answer); `reused_from`: the execution whose
   * recorded output this is (a fork's reused answer or mocked side effect); `mocked`: the node acts on the world and
   * was not run (a fork in `mock` mode).
   */
  | {
      ok: true;
      output: unknown;
      result_key?: string;
      request_hash?: string;
      reused_from?: string;
      mocked?: true;
    }
  | { ok: false; error: AttemptError }
  /**
   * Hand the node to the execution's durable timers / event inbox instead of finishing it; `detail` rides on
   * node.waiting (what an agent waits to have approved).
   */
  | { wait: { until: number | null; event: string | null; detail?: Record<string, unknown> } }
  /** Started a child execution (a `workflow` node): the attempt ends when the child does. */
  | { child: { execution_id: string } };

/** How one run of a map node's items ended, as the shell's map runner reports it. */
export type MapResult =
  | { done: { ok: true; output: unknown } | { ok: false; error: AttemptError } }
  /** Nothing can start before a retry falls due (or, when null, before a child execution ends). */
  | { park: number | null };

export interface ChildEnd {
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
}

export type RunInput =
  /** The execution row was just written; `concurrencyKeyError` when its key could not be rendered. */
  | { type: "created"; concurrencyKeyError: string | null; seeds?: readonly ForkSeed[] | undefined }
  /** The execution moved to another version (stored by the shell in the same turn; src/engine/migration.ts). */
  | {
      type: "migrated";
      definition: Definition;
      version: number;
      renamed: Record<string, string>;
      added: { id: string; kind: string }[];
      removed: string[];
    }
  /** The shell obtained the execution's concurrency key and a running slot (or, parked, its slot back). */
  | { type: "slotGranted" }
  /** The drive came to rest with nothing in flight: the run gives its slot back if it may (wake.ts parkable). */
  | { type: "idle" }
  /**
   * The alarm fired or the drive loop came round: settle due timers, resume attempts cut off by an eviction (running
   * but not `inflight` here, and not `yielded` for want of budget), plan, launch. `dueMapCounts` holds the item
   * counts of parked map nodes whose timer is due.
   */
  | {
      type: "timerFired";
      inflight: ReadonlySet<string>;
      yielded: ReadonlySet<string>;
      dueMapCounts: ReadonlyMap<string, ItemCounts>;
    }
  /** Answers to an `evaluateConditions` command. */
  | { type: "conditionsEvaluated"; results: { nodeId: string; holds: Condition }[] }
  | { type: "attemptFinished"; nodeId: string; attempt: number; result: RunResult }
  /** A running attempt's streamed text (an llm node's answer as it is written, `text` going at `offset` in it). */
  | { type: "delta"; nodeId: string; attempt: number; text: string; offset: number }
  | { type: "mapFinished"; nodeId: string; attempt: number; result: MapResult; counts: ItemCounts }
  | { type: "mapProgress"; nodeId: string; counts: ItemCounts; reason: string }
  /** An item of a parked map node moved (its child ended): the node runs again. */
  | { type: "mapUnparked"; nodeId: string; counts: ItemCounts }
  /** `once`: the sender's Idempotency-Key and request hash, kept with the event so a retry is known as one. */
  | { type: "eventReceived"; name: string; payload: unknown; once?: KeyedRequest }
  | { type: "childFinished"; childId: string; result: ChildEnd }
  /** Answer to `takeBuffered`: the oldest buffered event of that name (now consumed), or null. */
  | { type: "bufferedTaken"; nodeId: string; event: { payload: unknown; received_at: number } | null }
  | { type: "cancelRequested"; message: string }
  | { type: "paused" }
  | { type: "resumed" }
  | {
      type: "redriven";
      fromNode: string | undefined;
      inputPatch: Record<string, unknown> | undefined;
      windowMs: number;
    }
  /** An output kept in R2 could not be read back. */
  | { type: "outputMissing"; nodeId: string; ref: string }
  /** The D1 projection of everything up to `upTo` landed (`labels`: with the run's tags and metadata). */
  | { type: "projected"; upTo: number; labels: boolean }
  | { type: "projectionFailed" }
  | { type: "parentNotified" }
  | { type: "parentNotifyFailed" };

export interface EmittedEvent {
  seq: number;
  type: EventType;
  nodeId: string | null;
  attempt: number | null;
  at: number;
  data: Record<string, unknown>;
}

export type RunCommand =
  /** Append to the log (with this seq), then broadcast to subscribers. */
  | { type: "emit"; event: EmittedEvent }
  /** Run an attempt; `resume` re-runs the same attempt after an eviction or a wake (no new node.started). */
  | { type: "launchAttempt"; nodeId: string; attempt: number; resume: boolean }
  /** Record what woke a resuming node as its step `wake:<key>`, in this step's turn, before its attempt runs again. */
  | { type: "recordWake"; nodeId: string; key: string; value: unknown }
  /** Give the running slot back while the run waits (the concurrency key stays); it asks again when it can move. */
  | { type: "releaseSlot" }
  /** Evaluate these `when` expressions against the run's context and answer with `conditionsEvaluated`. */
  | { type: "evaluateConditions"; nodes: { nodeId: string; expr: string }[] }
  /** Consume the oldest buffered event of this name for the node and answer with `bufferedTaken`. */
  | { type: "takeBuffered"; nodeId: string; name: string }
  /** Keep a received event in the inbox, consumed already by `consumedBy` or buffered for a later wait. */
  | { type: "storeEvent"; name: string; payload: unknown; at: number; consumedBy: string | null; once?: KeyedRequest }
  | { type: "cancelChildren"; ids: string[]; reason: string }
  /** Close the map items still open (cancelling the child executions they await). */
  | { type: "stopMaps"; reason: string }
  /** The run ended: abort attempts in flight, close streams, release slot and key, resolve `settled` callers. */
  | { type: "ended" };

export interface StepResult {
  state: RunState;
  commands: RunCommand[];
  /** Nodes whose rows changed, and whether the execution row did: what the shell writes before anything else. */
  changedNodes: ReadonlySet<string>;
  execChanged: boolean;
  /** Set when the input was refused (a redrive that cannot be done): nothing changed. */
  refused?: { code: string; message: string };
  /** The tick changed something the plan must see again before waiting (a skip, a failed condition). */
  again: boolean;
}

// Running one attempt of a node for the shell: the executor (or the map runner) with the services the shell builds,
// its large output moved to R2, and its result fed back to the reducer as `attemptFinished` / `mapFinished`.
import type { ExecutionStore } from "../db/execution-store";
import type { MapStore } from "../db/map-store";
import { config } from "../env";
import type { ExprContext } from "../engine/expr";
import type { RunInput, RunResult, StepResult } from "../engine/run/messages";
import { nodeDef, nodeRecord, type NodeRecord, type RunState } from "../engine/run/state";
import { executors } from "../nodes";
import { idempotencyKey, runAttempt, type AttemptFork } from "./attempt";
import { renderArtifacts, storeArtifacts, type ArtifactFile } from "./artifacts";
import type { NodeDef } from "../engine/dag";
import { mockedEffect, type ForkInfo } from "../engine/fork";
import { errorValue } from "../nodes/types";
import { crashPoint } from "./faults";
import { MapRun, type MapOutcome } from "./map-run";
import { isOutputRef, storedBytes, storeOutput } from "./outputs";
import { runServices } from "./services";
import type { Subscribers } from "./subscribers";
import { endTurn } from "./turn";

/** What a run needs from its Durable Object. */
export interface RunHost {
  ctx: DurableObjectState;
  env: Env;
  store: ExecutionStore;
  maps: MapStore;
  subscribers: Subscribers;
}

/** The part of the shell an attempt reports to. */
export interface AttemptHost {
  readonly h: RunHost;
  readonly state: RunState;
  readonly inflight: Map<string, Promise<void>>;
  readonly yielded: Set<string>;
  readonly budget: { left: number };
  readonly runAbort: AbortController;
  outputsToLoad: boolean;
  feed(input: RunInput): StepResult;
  context(): ExprContext;
  cancelChildren(ids: string[], reason: string): void;
}

/** Written in the same turn as the step that woke the node: a crash after it re-runs the attempt, which finds it. */
export function recordWake(run: AttemptHost, nodeId: string, key: string, value: unknown): void {
  const node = nodeRecord(run.state, nodeId);
  run.h.store.recordStep(
    idempotencyKey(run.state.exec.id, nodeId, node.attempt_base),
    `wake:${key}`,
    value,
    Date.now(),
  );
}

export function launchAttempt(run: AttemptHost, nodeId: string, attempt: number, resume: boolean): void {
  const node = nodeRecord(run.state, nodeId);
  const fork = forkFor(run.state.exec.fork, nodeId);
  if (node.kind === "map") {
    // A map whose items act on the world is mocked whole in a fork: none of its items runs. Otherwise the collected
    // outputs follow the large-output rule like any node's: past the inline size they go to R2.
    const mapped =
      fork?.mock !== undefined
        ? Promise.resolve({ done: mockedEffect(nodeId, fork.source, fork.mock) })
        : runMap(run, node, attempt).then(async (outcome): Promise<MapOutcome> => {
            if (!("done" in outcome) || !outcome.done.ok) return outcome;
            return { done: (await storeLarge(run, nodeId, attempt, outcome.done)) as typeof outcome.done };
          });
    track(run, nodeId, attempt, mapped, (outcome) => {
      // Out of this invocation's budget (or paused): the next alarm invocation resumes it.
      if ("yield" in outcome) run.yielded.add(nodeId);
      else run.feed({ type: "mapFinished", nodeId, attempt, result: outcome, counts: run.h.maps.counts(nodeId) });
    });
    return;
  }
  const exec = run.state.exec;
  const executor = executors[node.kind];
  const def = nodeDef(run.state, nodeId);
  const attemptRun = (ctx = run.context()): Promise<RunResult> =>
    executor
      ? runAttempt(executor, def, ctx, {
          executionId: exec.id,
          attempt,
          attemptBase: node.attempt_base,
          fork,
          runSignal: run.runAbort.signal,
          now: Date.now(),
          services: runServices(run.h.env, run.h.store, exec, nodeId, attempt, (text, offset) =>
            run.feed({ type: "delta", nodeId, attempt, text, offset }),
          ),
        })
          .then((result) => withArtifacts(run, def, ctx, result))
          .then((result) => storeLarge(run, nodeId, attempt, result))
      : Promise.resolve({
          ok: false,
          error: { code: "unknown_kind", message: `no executor for kind "${node.kind}"`, retryable: false },
        });
  // With subscribers watching, node.started goes out before the attempt's own work (a transform is CPU only)
  // instead of waiting for it in the same turn.
  const work = !resume && run.h.subscribers.count() > 0 ? endTurn().then(() => attemptRun()) : attemptRun();
  track(run, nodeId, attempt, work, (result) => run.feed({ type: "attemptFinished", nodeId, attempt, result }));
}

/** What a fork's node may take from its source instead of running (nothing for a run that is not a fork). */
function forkFor(info: ForkInfo | null, nodeId: string): AttemptFork | undefined {
  if (!info) return undefined;
  const mocked = nodeId in info.mocks ? { mock: info.mocks[nodeId] ?? null } : {};
  return { source: info.from_execution_id, reuse: info.reuse[nodeId], ...mocked };
}

/** Keep an attempt in flight until its result is recorded, with the crash points on either side of the record. */
function track<T>(run: AttemptHost, nodeId: string, attempt: number, work: Promise<T>, record: (r: T) => void): void {
  const site = { execution_id: run.state.exec.id, node_id: nodeId, attempt };
  const done = work
    .then(async (result) => {
      await crashPoint({ ...site, point: "attempt.returned" });
      record(result);
      await crashPoint({ ...site, point: "completion.stored" });
    })
    .finally(() => run.inflight.delete(nodeId));
  run.inflight.set(nodeId, done);
}

function runMap(run: AttemptHost, node: NodeRecord, attempt: number): Promise<MapOutcome> {
  const exec = run.state.exec;
  return new MapRun({
    executionId: exec.id,
    node: nodeDef(run.state, node.id),
    attempt,
    items: run.h.maps,
    inbox: run.h.store,
    ctx: run.context(),
    signal: run.runAbort.signal,
    canStart: () => exec.status === "running",
    budget: run.budget,
    services: (a) => runServices(run.h.env, run.h.store, exec, node.id, a),
    progress: (counts, reason) => run.feed({ type: "mapProgress", nodeId: node.id, counts, reason }),
    cancelChildren: (ids) => run.cancelChildren(ids, `map node ${node.id} stopped`),
  }).run();
}

/** A succeeded node that declares `artifacts` has its files written to R2 before its success is recorded. */
async function withArtifacts(run: AttemptHost, def: NodeDef, ctx: ExprContext, result: RunResult): Promise<RunResult> {
  if (!def.artifacts || !("ok" in result) || !result.ok) return result;
  let files: ArtifactFile[];
  try {
    files = await renderArtifacts(def, ctx, result);
  } catch (err) {
    return { ok: false, error: errorValue(err, new AbortController().signal) };
  }
  return (await storeArtifacts(run.h.env.ARTIFACTS, run.state.exec.id, def.id, files)) ?? result;
}

/** Write an attempt's output to R2 when it is too big for a row; the node then holds the reference. */
async function storeLarge(run: AttemptHost, nodeId: string, attempt: number, result: RunResult): Promise<RunResult> {
  const cfg = config(run.h.env);
  const limits = {
    inline: cfg.MAX_INLINE_OUTPUT_BYTES,
    budget: cfg.OUTPUT_BUDGET_BYTES,
    stored: () => storedBytes(run.state.nodes.values()),
  };
  const r = await storeOutput(run.h.env.ARTIFACTS, run.state.exec.id, nodeId, attempt, result, limits);
  if ("ok" in r && r.ok && isOutputRef(r.output)) run.outputsToLoad = true;
  return r;
}

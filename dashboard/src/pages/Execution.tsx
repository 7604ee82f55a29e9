// One run, live: the graph coloured from the event log, updated from the WebSocket stream with no reload; the
// scrubber replays the same log to any earlier seq.
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, query } from "../api";
import { between, duration, json, money, time } from "../format";
import { follow } from "../live";
import { withDelta, type Streams } from "../model/deltas";
import { applyEvent, replay, spans, withSnapshot, type RunState } from "../model/replay";
import { FINISHED, type EventEnvelope, type ExecutionView, type WorkflowView } from "../model/types";
import { Link } from "../router";
import { Actions } from "../components/Actions";
import { ForkDiff } from "../components/ForkDiff";
import { EventLog } from "../components/EventLog";
import { Graph } from "../components/Graph";
import { Inspector } from "../components/Inspector";
import { LoadFailed, StatusBadge } from "../components/Problem";
import { Timeline } from "../components/Timeline";

async function allEvents(id: string): Promise<EventEnvelope[]> {
  const out: EventEnvelope[] = [];
  for (let after = 0; ;) {
    const page = await api.get<{ data: EventEnvelope[]; next_after: number }>(
      `/v1/executions/${id}/events${query({ after, limit: 1000 })}`,
    );
    out.push(...page.data);
    if (page.data.length < 1000) return out;
    after = page.next_after;
  }
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

export function Execution({ id }: { id: string }) {
  const [view, setView] = useState<ExecutionView | null>(null);
  const [workflow, setWorkflow] = useState<WorkflowView | null>(null);
  const [events, setEvents] = useState<EventEnvelope[]>([]);
  const [live, setLive] = useState<RunState | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [stream, setStream] = useState("connecting");
  const [epoch, setEpoch] = useState(0);
  const [scrub, setScrub] = useState<number | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [deltas, setDeltas] = useState<Streams>({});

  const refresh = useCallback(async () => {
    try {
      setView(await api.get<ExecutionView>(`/v1/executions/${id}`));
    } catch (err) {
      setError(err as Error);
    }
  }, [id]);

  // Load the snapshot, its definition and the whole event log, then follow the stream from the last seq.
  useEffect(() => {
    let stop = () => {};
    let cancelled = false;
    let throttle: ReturnType<typeof setTimeout> | undefined;
    (async () => {
      const snapshot = await api.get<ExecutionView>(`/v1/executions/${id}`);
      const [wf, all] = await Promise.all([
        api.get<WorkflowView>(`/v1/workflows/${snapshot.workflow_id}${query({ version: snapshot.version })}`),
        allEvents(id),
      ]);
      if (cancelled) return;
      // Streamed text is in the log (node.delta, resumable by seq); the timeline and the graph show the rest.
      const log = all.filter((e) => e.type !== "node.delta");
      setDeltas(all.reduce(withDelta, {}));
      const ids = wf.definition.nodes.map((n) => n.id);
      setView(snapshot);
      setWorkflow(wf);
      setEvents(log);
      setLive(replay(ids, log));
      const last = all.at(-1)?.seq ?? 0;
      if (FINISHED.has(snapshot.status) && epoch === 0) return setStream("finished");
      stop = follow(id, last, {
        event: (e) => {
          if (e.type === "node.delta") return setDeltas((d) => withDelta(d, e));
          setEvents((all) => [...all, e]);
          setLive((run) => (run ? applyEvent(run, e) : run));
          // The snapshot (status, outputs kept in R2, child links) is re-read when the run's status changes, and
          // at most every 2 s while nodes finish: a 1,000-node run must not fetch its snapshot 1,000 times.
          if (e.type.startsWith("execution.")) void refresh();
          else if (e.type === "node.succeeded" && throttle === undefined)
            throttle = setTimeout(() => {
              throttle = undefined;
              void refresh();
            }, 2000);
        },
        state: (s) => setStream(s === "closed" ? "finished" : s),
      });
    })().catch((err: Error) => !cancelled && setError(err));
    return () => {
      cancelled = true;
      clearTimeout(throttle);
      stop();
    };
  }, [id, epoch, refresh]);

  const running = view !== null && !FINISHED.has(view.status);
  const now = useNow(running);
  const nodeIds = useMemo(() => workflow?.definition.nodes.map((n) => n.id) ?? [], [workflow]);
  const lastSeq = events.at(-1)?.seq ?? 0;
  const shown = useMemo(() => {
    if (!live || !view) return null;
    return scrub === null ? withSnapshot(live, view) : replay(nodeIds, events, scrub);
  }, [live, view, scrub, nodeIds, events]);
  const shownSpans = useMemo(
    () => spans(scrub === null ? events : events.filter((e) => e.seq <= scrub)),
    [events, scrub],
  );
  const children = useMemo(
    () => Object.fromEntries(view?.nodes.flatMap((n) => (n.child ? [[n.node_id, n.child.execution_id]] : [])) ?? []),
    [view],
  );

  if (error) return <LoadFailed error={error} />;
  if (!view || !workflow || !shown) return <p aria-busy="true">Loading…</p>;
  const waitingEvents = Object.values(shown.nodes).flatMap((n) =>
    n.status === "waiting" && n.waiting_for?.event && !n.child ? [n.waiting_for.event] : [],
  );
  const selectedNode = workflow.definition.nodes.find((n) => n.id === selected);
  const scrubAt = scrub ?? lastSeq;
  return (
    <section className="execution">
      <header className="run-head">
        <h1>
          Execution <code>{view.id}</code>
        </h1>
        <StatusBadge status={scrub === null ? view.status : shown.status} />
        <span className={`stream stream-${stream}`} aria-live="polite">
          {stream === "live" ? "live" : stream === "finished" ? "finished" : `stream ${stream}`}
        </span>
      </header>
      <dl className="facts">
        <div>
          <dt>Workflow</dt>
          <dd>
            <Link to={`/workflows/${view.workflow_id}?version=${view.version}`}>{workflow.name}</Link> v{view.version}
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{time(view.created_at)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{duration(between(view.started_at, view.finished_at, now))}</dd>
        </div>
        {view.parent && (
          <div>
            <dt>Parent</dt>
            <dd>
              <Link to={`/executions/${view.parent.execution_id}`}>{view.parent.execution_id}</Link> (node{" "}
              {view.parent.node_id})
            </dd>
          </div>
        )}
        {view.usage.llm_calls > 0 && (
          <div>
            <dt>LLM</dt>
            <dd>
              {view.usage.llm_calls} calls, {view.usage.input_tokens + view.usage.output_tokens} tokens,{" "}
              {money(view.usage.cost_usd)}
            </dd>
          </div>
        )}
        {view.tags.length > 0 && (
          <div>
            <dt>Tags</dt>
            <dd>{view.tags.join(", ")}</dd>
          </div>
        )}
      </dl>
      {view.error && (
        <p className="problem" role="alert">
          <code>{view.error.code}</code> {view.error.message}
        </p>
      )}
      <Actions
        view={view}
        nodeIds={nodeIds}
        waitingEvents={waitingEvents}
        selected={selected}
        onDone={(what) => {
          setScrub(null);
          void refresh();
          // A redriven run runs again: follow its stream anew from the last seq we have.
          if (what === "redrive") setEpoch((n) => n + 1);
        }}
      />
      {view.fork && (
        <ForkDiff id={view.id} source={view.fork.from_execution_id} fromNode={view.fork.from_node} seq={lastSeq} />
      )}
      <div className="scrubber">
        <label htmlFor="scrub">
          Time: seq {scrubAt} of {lastSeq}
        </label>
        <input
          id="scrub"
          type="range"
          min={0}
          max={lastSeq}
          value={scrubAt}
          onChange={(e) => {
            const v = Number(e.target.value);
            setScrub(v >= lastSeq ? null : v);
          }}
        />
        <button type="button" disabled={scrub === null} onClick={() => setScrub(null)}>
          Live
        </button>
      </div>
      <div className="run-body">
        <Graph
          definition={workflow.definition.nodes}
          states={shown.nodes}
          children={children}
          selected={selected}
          onSelect={setSelected}
        />
        {selectedNode ? (
          <Inspector
            node={selectedNode}
            state={shown.nodes[selectedNode.id]}
            child={children[selectedNode.id] ?? null}
            delta={deltas[selectedNode.id]?.text}
            now={now}
          />
        ) : (
          <aside className="inspector" tabIndex={0} aria-label="Run">
            <h2>Run</h2>
            <p>Select a node to inspect it.</p>
            <h3>Input</h3>
            <pre tabIndex={0} className="output">
              {json(view.input)}
            </pre>
            {view.output != null && (
              <>
                <h3>Output</h3>
                <pre tabIndex={0} className="output">
                  {json(view.output)}
                </pre>
              </>
            )}
          </aside>
        )}
      </div>
      <h2>Timeline</h2>
      <Timeline
        spans={shownSpans}
        order={nodeIds}
        now={scrub === null ? now : Date.parse(events.find((e) => e.seq === scrub)?.at ?? String(now))}
      />
      <h2>Events</h2>
      <EventLog events={events} at={scrub} onPick={(seq) => setScrub(seq >= lastSeq ? null : seq)} />
    </section>
  );
}

// One node: its configuration (secrets redacted), state, output, error, attempts, what it waits for.
import { between, duration, json, time } from "../format";
import { agentTurns, pendingStep } from "../model/agent";
import { redact } from "../model/redact";
import type { NodeState } from "../model/replay";
import type { DefinitionNode } from "../model/types";
import { Link } from "../router";
import { StatusBadge } from "./Problem";
import { AgentTurns } from "./AgentTurns";
import { ItemsBar } from "./ItemsBar";
import { ApprovalPanel } from "./Decide";
import { waitingApproval } from "../model/approvals";

export function Inspector(props: {
  node: DefinitionNode;
  state: NodeState | undefined;
  child: string | null;
  delta: string | undefined;
  now: number;
}) {
  const { node, state, child, delta, now } = props;
  const rows: [string, React.ReactNode][] = [
    ["Kind", node.kind],
    ["Status", <StatusBadge status={state?.status ?? "pending"} />],
    ["Attempts", state?.attempts ?? 0],
    ["Started", time(state?.started_at)],
    ["Finished", time(state?.finished_at)],
    ["Duration", duration(between(state?.started_at ?? null, state?.finished_at ?? null, now))],
  ];
  if (node.needs?.length) rows.push(["Needs", node.needs.join(", ")]);
  if (state?.next_attempt_at)
    rows.push([
      "Next attempt",
      `${time(state.next_attempt_at)} (in ${duration(Date.parse(state.next_attempt_at) - now)})`,
    ]);
  if (state?.waiting_for)
    rows.push([
      "Waiting for",
      `${state.child ? "its child execution" : state.waiting_for.event ? `event "${state.waiting_for.event}"` : "items"}${state.waiting_for.until ? ` until ${time(state.waiting_for.until)}` : ""}`,
    ]);
  const pending = pendingStep(state?.waiting_for?.detail);
  const approvalId = node.kind === "approval" ? waitingApproval(state?.waiting_for?.detail) : null;
  if (pending)
    rows.push([
      pending.kind === "approval" ? "Approval" : "Question",
      <span>
        <code>{pending.tool}</code>({JSON.stringify(pending.input)}) — send the event{" "}
        <code>{state?.waiting_for?.event}</code> with{" "}
        {pending.kind === "approval" ? (
          <>
            <code>{'{"approved": true}'}</code> or <code>{'{"approved": false, "reason": "…"}'}</code>
          </>
        ) : (
          <>the answer as its payload</>
        )}
      </span>,
    ]);
  if (child) rows.push(["Child run", <Link to={`/executions/${child}`}>{child}</Link>]);
  if (state?.skipped)
    rows.push([
      "Skipped",
      `${state.skipped.reason}${state.skipped.detail ? `: ${JSON.stringify(state.skipped.detail)}` : ""}`,
    ]);
  return (
    <aside className="inspector" tabIndex={0} aria-label={`Node ${node.id}`}>
      <h2>
        Node <code>{node.id}</code>
      </h2>
      <dl>
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {state?.items && <ItemsBar items={state.items} />}
      {approvalId && state?.status === "waiting" && <ApprovalPanel id={approvalId} />}
      {state?.error && (
        <>
          <h3>Error</h3>
          <p className="problem">
            <code>{state.error.code}</code> {state.error.message}
          </p>
        </>
      )}
      {delta && state?.status === "running" && (
        <>
          <h3>Streaming answer</h3>
          <pre tabIndex={0} className="output">
            {delta}
          </pre>
        </>
      )}
      {node.kind === "agent" && agentTurns(state?.output) && <AgentTurns turns={agentTurns(state?.output) ?? []} />}
      {state?.output != null && (
        <>
          <h3>Output</h3>
          <pre tabIndex={0} className="output" data-testid="node-output">
            {json(state.output)}
          </pre>
        </>
      )}
      <h3>Configuration</h3>
      <pre tabIndex={0} className="config">
        {json(redact({ config: node.config, retry: node.retry, timeout_seconds: node.timeout_seconds }))}
      </pre>
    </aside>
  );
}

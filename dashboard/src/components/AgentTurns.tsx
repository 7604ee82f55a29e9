// An agent node's transcript, turn by turn: what the model said, each tool call with its arguments and how it
// ended (result, error, bad arguments, denied), and what each turn cost.
import { duration, json, money } from "../format";
import type { AgentCall, AgentTurn } from "../model/agent";

export function AgentTurns({ turns }: { turns: AgentTurn[] }) {
  return (
    <>
      <h3>Agent turns</h3>
      <ol className="agent-turns" aria-label="Agent turns">
        {turns.map((t) => (
          <li key={t.turn}>
            <div className="turn-head">
              <strong>Turn {t.turn}</strong> · {t.provider}:{t.model} · {t.usage.input_tokens + t.usage.output_tokens}{" "}
              tokens · {money(t.cost_usd)} · {duration(t.latency_ms)}
            </div>
            {t.text && <p className="turn-text">{t.text}</p>}
            {t.tool_calls.map((c) => (
              <ToolCallView key={c.id} call={c} />
            ))}
          </li>
        ))}
      </ol>
    </>
  );
}

const LABEL: Record<AgentCall["status"], string> = {
  ok: "ok",
  error: "failed",
  invalid: "bad call",
  denied: "denied",
};

function ToolCallView({ call }: { call: AgentCall }) {
  const tone = call.status === "ok" ? "succeeded" : call.status === "denied" ? "cancelled" : "failed";
  return (
    <details className="tool-call">
      <summary>
        <code>{call.name}</code> <span className={`badge status-${tone}`}>{LABEL[call.status]}</span>
        {call.attempts !== undefined && call.attempts > 1 && <span> · {call.attempts} tries</span>}
        {call.latency_ms !== undefined && <span> · {duration(call.latency_ms)}</span>}
      </summary>
      <div className="tool-io">
        <div>Arguments</div>
        <pre className="output">{json(call.input)}</pre>
        {call.status === "ok" && (
          <>
            <div>Result</div>
            <pre className="output">{json(call.output)}</pre>
          </>
        )}
        {call.error && (
          <p className="problem">
            <code>{call.error.code}</code> {call.error.message}
          </p>
        )}
        {call.status === "denied" && (
          <p className="problem">
            Denied{call.by ? ` by ${String(call.by)}` : ""}: {call.reason}
          </p>
        )}
      </div>
    </details>
  );
}

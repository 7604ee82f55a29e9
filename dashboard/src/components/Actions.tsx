// What can be done to a run: cancel, pause/resume, redrive (from its failed nodes or a chosen node, with an
// input_patch), fork it at a node (with its output edited) and send an event to a waiting node. Each answers with
// the API's own error when refused.
import { useState, type FormEvent } from "react";
import { api } from "../api";
import { useSubmitKey } from "../hooks";
import { navigate } from "../router";
import { FINISHED, type ExecutionView } from "../model/types";
import { ProblemView } from "./Problem";

function parseJson(text: string, what: string): { ok: true; value: unknown } | { ok: false; error: Error } {
  if (text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, error: new Error(`${what} is not valid JSON.`) };
  }
}

export function Actions(props: {
  view: ExecutionView;
  nodeIds: readonly string[];
  waitingEvents: readonly string[];
  selected: string | null;
  onDone: (what: "redrive" | "other") => void;
}) {
  const { view, onDone } = props;
  const [error, setError] = useState<Error | null>(null);
  const [panel, setPanel] = useState<"redrive" | "event" | "fork" | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (what: "redrive" | "other", call: () => Promise<unknown>) => {
    setError(null);
    setBusy(true);
    try {
      await call();
      setPanel(null);
      onDone(what);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const path = `/v1/executions/${view.id}`;
  const finished = FINISHED.has(view.status);
  return (
    <div className="actions">
      <div className="buttons">
        {!finished && (
          <button
            type="button"
            className="danger"
            onClick={() => run("other", () => api.post(`${path}/cancel`, { reason: "cancelled from the dashboard" }))}
          >
            Cancel
          </button>
        )}
        {(view.status === "running" || view.status === "queued") && (
          <button type="button" onClick={() => run("other", () => api.post(`${path}/pause`))}>
            Pause
          </button>
        )}
        {view.status === "paused" && (
          <button type="button" onClick={() => run("other", () => api.post(`${path}/resume`))}>
            Resume
          </button>
        )}
        {finished && (
          <button
            type="button"
            aria-expanded={panel === "redrive"}
            onClick={() => setPanel(panel === "redrive" ? null : "redrive")}
          >
            Redrive…
          </button>
        )}
        <button
          type="button"
          aria-expanded={panel === "fork"}
          onClick={() => setPanel(panel === "fork" ? null : "fork")}
        >
          Fork…
        </button>
        {!finished && (
          <button
            type="button"
            aria-expanded={panel === "event"}
            onClick={() => setPanel(panel === "event" ? null : "event")}
          >
            Send event…
          </button>
        )}
      </div>
      {panel === "redrive" && (
        <RedriveForm
          nodeIds={props.nodeIds}
          selected={props.selected}
          busy={busy}
          onSubmit={(body, key) => run("redrive", () => api.post(`${path}/redrive`, body, { "idempotency-key": key }))}
          onError={setError}
        />
      )}
      {panel === "fork" && (
        <ForkForm
          view={view}
          selected={props.selected ?? props.nodeIds[0] ?? ""}
          busy={busy}
          onSubmit={(body, key) =>
            run("other", async () => {
              const forked = await api.post<{ id: string }>(`${path}/forks`, body, { "idempotency-key": key });
              navigate(`/executions/${forked.id}`);
            })
          }
          onError={setError}
        />
      )}
      {panel === "event" && (
        <EventForm
          names={props.waitingEvents}
          busy={busy}
          onSubmit={(body, key) => run("other", () => api.post(`${path}/events`, body, { "idempotency-key": key }))}
          onError={setError}
        />
      )}
      <ProblemView error={error} />
    </div>
  );
}

function RedriveForm(props: {
  nodeIds: readonly string[];
  selected: string | null;
  busy: boolean;
  /** `key`: as EventForm's, so a redrive sent again does not run its nodes again. */
  onSubmit: (body: { from_node?: string; input_patch?: unknown }, key: string) => void;
  onError: (e: Error) => void;
}) {
  const [from, setFrom] = useState(props.selected ?? "");
  const [patch, setPatch] = useState("");
  const key = useSubmitKey([from, patch]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseJson(patch, "The input patch");
    if (!parsed.ok) return props.onError(parsed.error);
    props.onSubmit(
      {
        ...(from ? { from_node: from } : {}),
        ...(parsed.value !== undefined ? { input_patch: parsed.value } : {}),
      },
      key,
    );
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Redrive">
      <label>
        Redrive from
        <select value={from} onChange={(e) => setFrom(e.target.value)}>
          <option value="">the failed nodes</option>
          {props.nodeIds.map((id) => (
            <option key={id} value={id}>
              node {id}
            </option>
          ))}
        </select>
      </label>
      <label>
        Input patch (JSON object merged into the input)
        <textarea
          rows={4}
          value={patch}
          onChange={(e) => setPatch(e.target.value)}
          placeholder='{"retry_with": "new value"}'
          spellCheck={false}
        />
      </label>
      <button type="submit" disabled={props.busy} aria-busy={props.busy}>
        Redrive
      </button>
    </form>
  );
}

function EventForm(props: {
  names: readonly string[];
  busy: boolean;
  /** `key`: the same for the same fields, so sending again (a lost answer) is the same event, never a second. */
  onSubmit: (body: { name: string; payload?: unknown }, key: string) => void;
  onError: (e: Error) => void;
}) {
  const [name, setName] = useState(props.names[0] ?? "");
  const [payload, setPayload] = useState("");
  const key = useSubmitKey([name, payload]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseJson(payload, "The payload");
    if (!parsed.ok) return props.onError(parsed.error);
    props.onSubmit({ name, ...(parsed.value !== undefined ? { payload: parsed.value } : {}) }, key);
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Send event">
      <label>
        Event name
        <input value={name} onChange={(e) => setName(e.target.value)} list="waiting-events" required />
        <datalist id="waiting-events">
          {props.names.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
      </label>
      <label>
        Payload (JSON)
        <textarea
          rows={4}
          value={payload}
          onChange={(e) => setPayload(e.target.value)}
          placeholder='{"approved": true}'
          spellCheck={false}
        />
      </label>
      <button type="submit" disabled={props.busy} aria-busy={props.busy}>
        Send
      </button>
    </form>
  );
}

/**
 * Fork at a node: its output as the source has it, to edit (sent as a merge patch, so the node keeps the edit and
 * only what is downstream runs), or left as it is to run the node again. Side effects stay mocked unless allowed.
 */
function ForkForm(props: {
  view: ExecutionView;
  selected: string;
  busy: boolean;
  /** `key`: as EventForm's, so an `allow` fork sent again never runs its side effects twice. */
  onSubmit: (body: { from_node: string; output_patch?: unknown; effects: "mock" | "allow" }, key: string) => void;
  onError: (e: Error) => void;
}) {
  const outputOf = (id: string) => props.view.nodes.find((n) => n.node_id === id);
  const shown = (id: string) => {
    const n = outputOf(id);
    return n?.status === "succeeded" ? JSON.stringify(n.output, null, 2) : "";
  };
  const [from, setFrom] = useState(props.selected);
  const [output, setOutput] = useState(shown(props.selected));
  const [allow, setAllow] = useState(false);
  const key = useSubmitKey([from, output, allow]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const edited = output.trim() !== "" && output !== shown(from);
    const parsed = parseJson(edited ? output : "", "The output");
    if (!parsed.ok) return props.onError(parsed.error);
    props.onSubmit(
      {
        from_node: from,
        ...(parsed.value !== undefined ? { output_patch: parsed.value } : {}),
        effects: allow ? "allow" : "mock",
      },
      key,
    );
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Fork">
      <label>
        Fork from
        <select
          value={from}
          onChange={(e) => {
            setFrom(e.target.value);
            setOutput(shown(e.target.value));
          }}
        >
          {props.view.nodes.map((n) => (
            <option key={n.node_id} value={n.node_id}>
              node {n.node_id}
            </option>
          ))}
        </select>
      </label>
      <label>
        Its output (edit it to see what the rest does with another answer; leave it to run the node again)
        <textarea rows={8} value={output} onChange={(e) => setOutput(e.target.value)} spellCheck={false} />
      </label>
      <label className="inline">
        <input type="checkbox" checked={allow} onChange={(e) => setAllow(e.target.checked)} />
        Allow side effects (otherwise POSTs, emails, monitors and approvals answer with the source's output)
      </label>
      <button type="submit" disabled={props.busy} aria-busy={props.busy}>
        Fork
      </button>
    </form>
  );
}

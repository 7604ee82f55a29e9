import { useMemo, useState, type FormEvent } from "react";
import { api, query } from "../api";
import { time } from "../format";
import { useLoad, useSubmitKey } from "../hooks";
import { diffLines, pretty } from "../model/diff";
import { fieldsOf, parseFields, type Field } from "../model/form";
import type { WorkflowView } from "../model/types";
import { Link, navigate } from "../router";
import { Graph } from "../components/Graph";
import { MigrationPanel } from "../components/MigrationPanel";
import { LoadFailed, ProblemView } from "../components/Problem";

export function Workflow({ id, search }: { id: string; search: URLSearchParams }) {
  const version = search.get("version");
  const wf = useLoad(() => api.get<WorkflowView>(`/v1/workflows/${id}${query({ version })}`), [id, version]);
  const versions = useLoad(
    () => api.get<{ data: { version: number; created_at: string }[] }>(`/v1/workflows/${id}/versions`),
    [id],
  );
  if (wf.error) return <LoadFailed error={wf.error} />;
  if (!wf.data) return <p aria-busy="true">Loading…</p>;
  const w = wf.data;
  return (
    <section>
      <h1>
        {w.name} <small>v{w.version}</small>
      </h1>
      <p>
        <code>{w.id}</code> {w.description}
      </p>
      <label className="inline">
        Version{" "}
        <select value={w.version} onChange={(e) => navigate(`/workflows/${id}?version=${e.target.value}`, true)}>
          {(versions.data?.data ?? [{ version: w.version, created_at: w.updated_at }]).map((v) => (
            <option key={v.version} value={v.version}>
              v{v.version} ({time(v.created_at)})
            </option>
          ))}
        </select>
      </label>
      <DeclaredResults workflow={w} />
      <div className="run-body">
        <Graph definition={w.definition.nodes} />
        <RunForm workflow={w} />
      </div>
      {(versions.data?.data.length ?? 0) > 1 && (
        <VersionDiff id={id} versions={versions.data!.data.map((v) => v.version)} />
      )}
      <details>
        <summary>Definition</summary>
        <pre tabIndex={0} className="config">
          {JSON.stringify(w.definition, null, 2)}
        </pre>
      </details>
    </section>
  );
}

function FieldInput({ f, value, set }: { f: Field; value: string; set: (v: string) => void }) {
  const id = `input-${f.name}`;
  const common = {
    id,
    value,
    required: f.required && f.kind !== "boolean",
    "aria-describedby": f.description ? `${id}-d` : undefined,
  };
  return (
    <div className="field">
      <label htmlFor={id}>
        {f.label}
        {f.required ? " *" : ""}
      </label>
      {f.kind === "boolean" ? (
        <input id={id} type="checkbox" checked={value === "true"} onChange={(e) => set(String(e.target.checked))} />
      ) : f.kind === "enum" ? (
        <select {...common} onChange={(e) => set(e.target.value)}>
          <option value="">—</option>
          {f.options.map((o) => (
            <option key={o}>{o}</option>
          ))}
        </select>
      ) : f.kind === "json" ? (
        <textarea {...common} rows={3} onChange={(e) => set(e.target.value)} spellCheck={false} />
      ) : (
        <input
          {...common}
          type={f.kind === "string" ? "text" : "number"}
          step={f.kind === "integer" ? 1 : "any"}
          onChange={(e) => set(e.target.value)}
        />
      )}
      {f.description && <small id={`${id}-d`}>{f.description}</small>}
    </div>
  );
}

/** The run form, generated from input_schema (one JSON box when the schema has no properties). */
function RunForm({ workflow }: { workflow: WorkflowView }) {
  const fields = useMemo(() => fieldsOf(workflow.definition.input_schema), [workflow]);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries((fields ?? []).map((f) => [f.name, f.initial])),
  );
  const [raw, setRaw] = useState("{}");
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error | null>(null);
  const [starting, setStarting] = useState(false);
  // A Run clicked again after its answer was lost is that run, not a second one (the form changed: a new run).
  const key = useSubmitKey([values, raw]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    let input: unknown;
    if (fields) {
      const parsed = parseFields(fields, values);
      if (!parsed.ok) return setFieldErrors(parsed.errors);
      setFieldErrors({});
      input = parsed.input;
    } else {
      try {
        input = JSON.parse(raw || "null");
      } catch {
        return setError(new Error("The input is not valid JSON."));
      }
    }
    setStarting(true);
    try {
      // A run that settles within a second lands on its page already finished; a longer one is followed live there.
      const started = await api.post<{ id: string }>(
        `/v1/workflows/${workflow.id}/executions`,
        { input, version: workflow.version },
        { prefer: "wait=1", "idempotency-key": key },
      );
      navigate(`/executions/${started.id}`);
    } catch (err) {
      setError(err as Error);
    } finally {
      setStarting(false);
    }
  };
  return (
    <form className="inspector run-form" onSubmit={submit} aria-label="Run this workflow">
      <h2>Run v{workflow.version}</h2>
      {fields ? (
        fields.map((f) => (
          <div key={f.name}>
            <FieldInput f={f} value={values[f.name] ?? ""} set={(v) => setValues({ ...values, [f.name]: v })} />
            {fieldErrors[f.name] && <p className="problem">{fieldErrors[f.name]}</p>}
          </div>
        ))
      ) : (
        <label>
          Input (JSON)
          <textarea rows={6} value={raw} onChange={(e) => setRaw(e.target.value)} spellCheck={false} />
        </label>
      )}
      <button type="submit" disabled={starting} aria-busy={starting}>
        {starting ? "Starting…" : "Run"}
      </button>
      <ProblemView error={error} />
    </form>
  );
}

function VersionDiff({ id, versions: listed }: { id: string; versions: number[] }) {
  // The API lists versions newest first; the comparison defaults to the latest against the one before it.
  const versions = useMemo(() => [...listed].sort((x, y) => x - y), [listed]);
  const [a, setA] = useState(versions.at(-2) ?? 1);
  const [b, setB] = useState(versions.at(-1) ?? 1);
  const left = useLoad(() => api.get<WorkflowView>(`/v1/workflows/${id}?version=${a}`), [id, a]);
  const right = useLoad(() => api.get<WorkflowView>(`/v1/workflows/${id}?version=${b}`), [id, b]);
  const lines = useMemo(
    () => (left.data && right.data ? diffLines(pretty(left.data.definition), pretty(right.data.definition)) : []),
    [left.data, right.data],
  );
  const pick = (value: number, set: (v: number) => void, label: string) => (
    <label className="inline">
      {label}{" "}
      <select value={value} onChange={(e) => set(Number(e.target.value))}>
        {versions.map((v) => (
          <option key={v} value={v}>
            v{v}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section>
      <h2>Compare versions</h2>
      {pick(a, setA, "From")} {pick(b, setB, "to")}
      <ProblemView error={left.error ?? right.error} />
      <pre tabIndex={0} className="diff" aria-label={`Changes from v${a} to v${b}`}>
        {lines.map((l, i) => (
          <span key={i} className={`diff-${l.op}`}>
            {l.op === "add" ? "+ " : l.op === "del" ? "- " : "  "}
            {l.text}
            {"\n"}
          </span>
        ))}
      </pre>
      {a !== b && <MigrationPanel workflowId={id} from={a} to={b} />}
    </section>
  );
}

/** The results this version's nodes declare, each a link to its page of results. */
function DeclaredResults({ workflow }: { workflow: WorkflowView }) {
  const declared = workflow.definition.nodes.flatMap((n) => {
    const r = n.result as { name?: string } | undefined;
    return r?.name ? [{ node: n.id, name: r.name }] : [];
  });
  if (declared.length === 0) return null;
  return (
    <p>
      Results:{" "}
      {declared.map((d, i) => (
        <span key={d.node}>
          {i > 0 && ", "}
          <Link to={`/results${query({ workflow: workflow.id, name: d.name })}`}>{d.name}</Link>{" "}
          <small>({d.node})</small>
        </span>
      ))}
    </p>
  );
}

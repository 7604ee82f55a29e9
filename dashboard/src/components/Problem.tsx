import { ApiError } from "../api";

/** An API error as the API said it: title, detail, and each path that was wrong. */
export function ProblemView({ error }: { error: Error | null }) {
  if (!error) return null;
  if (!(error instanceof ApiError))
    return (
      <p role="alert" className="problem">
        {error.message}
      </p>
    );
  return (
    <div role="alert" className="problem">
      <strong>{error.title}</strong> <code>{error.code}</code>
      {error.detail && <p>{error.detail}</p>}
      {error.errors.length > 0 && (
        <ul>
          {error.errors.map((e, i) => (
            <li key={i}>
              <code>{e.path || "(body)"}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function NotFound({ detail }: { detail: string }) {
  return (
    <section className="not-found">
      <h1>Not found</h1>
      <p>{detail}</p>
    </section>
  );
}

/** 404s get the "Not found" page (another tenant's id looks exactly like one that never existed). */
export function LoadFailed({ error }: { error: Error }) {
  if (error instanceof ApiError && error.status === 404) return <NotFound detail={error.detail} />;
  return <ProblemView error={error} />;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status.replace("_", " ")}</span>;
}

import { useEffect, useState } from "react";
import { session } from "./api";
import { Link, match, useLocation } from "./router";
import { SignIn } from "./pages/SignIn";
import { Executions } from "./pages/Executions";
import { Execution } from "./pages/Execution";
import { Workflows } from "./pages/Workflows";
import { Workflow } from "./pages/Workflow";
import { Schedules } from "./pages/Schedules";
import { Usage } from "./pages/Usage";
import { Queues } from "./pages/Queues";
import { Results } from "./pages/Results";
import { Conversations } from "./pages/Conversations";
import { Conversation } from "./pages/Conversation";
import { Approvals } from "./pages/Approvals";
import { NotFound } from "./components/Problem";

const NAV = [
  ["/executions", "Executions"],
  ["/workflows", "Workflows"],
  ["/approvals", "Approvals"],
  ["/schedules", "Schedules & monitors"],
  ["/results", "Results"],
  ["/conversations", "Conversations"],
  ["/queues", "Queues"],
  ["/usage", "Usage"],
] as const;

function useSignedIn(): boolean {
  const [signedIn, set] = useState(() => session.key() !== null);
  useEffect(() => session.onChange(() => set(session.key() !== null)), []);
  return signedIn;
}

function Page({ path, search }: { path: string; search: URLSearchParams }) {
  if (path === "/" || path === "/executions") return <Executions search={search} />;
  let p = match("/executions/:id", path);
  if (p) return <Execution key={p.id} id={p.id!} />;
  if (path === "/workflows") return <Workflows />;
  p = match("/workflows/:id", path);
  if (p) return <Workflow key={p.id} id={p.id!} search={search} />;
  if (path === "/approvals") return <Approvals search={search} />;
  if (path === "/schedules") return <Schedules />;
  if (path === "/usage") return <Usage />;
  if (path === "/queues") return <Queues />;
  if (path === "/results") return <Results search={search} />;
  if (path === "/conversations") return <Conversations search={search} />;
  p = match("/conversations/:id", path);
  if (p) return <Conversation key={p.id} id={p.id!} />;
  return <NotFound detail={`There is no page at ${path}.`} />;
}

export function App() {
  const signedIn = useSignedIn();
  const { path, search } = useLocation();
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">
          Edgeflow
        </Link>
        {signedIn && (
          <nav aria-label="Main">
            {NAV.map(([to, label]) => (
              <Link
                key={to}
                to={to}
                aria-current={path.startsWith(to) || (to === "/executions" && path === "/") ? "page" : undefined}
              >
                {label}
              </Link>
            ))}
          </nav>
        )}
        {signedIn && (
          <button type="button" className="quiet" onClick={() => session.signOut()}>
            Sign out
          </button>
        )}
      </header>
      <main>{signedIn ? <Page path={path} search={search} /> : <SignIn />}</main>
    </>
  );
}

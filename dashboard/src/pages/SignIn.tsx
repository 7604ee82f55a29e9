import { useState, type FormEvent } from "react";
import { request, session } from "../api";
import { ProblemView } from "../components/Problem";

export function SignIn() {
  const [key, setKey] = useState("");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Checked before it is kept, so a typo is reported here rather than on every page.
      await request("GET", "/v1/workflows?limit=1", undefined, key.trim());
      session.signIn(key.trim());
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="sign-in">
      <h1>Sign in</h1>
      <p>
        Paste an API key (a <code>read</code> key is enough to look). It is kept in this tab's session storage only and
        sent in the Authorization header; closing the tab forgets it. <code>npm start</code> prints the local dev key.
      </p>
      <form onSubmit={submit}>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="ef_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
        />
        <button type="submit" disabled={busy || key.trim() === ""}>
          Sign in
        </button>
      </form>
      <ProblemView error={error} />
    </section>
  );
}

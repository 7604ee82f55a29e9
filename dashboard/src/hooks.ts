import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload: () => void;
}

/** Load once per `deps` change; `every` ms it loads again while the tab is visible (list pages that stay live). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], every?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const current = useRef(load);
  current.current = load;
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    current.current().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: Error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  useEffect(() => {
    if (!every) return;
    const t = setInterval(() => document.visibilityState === "visible" && setTick((n) => n + 1), every);
    return () => clearInterval(t);
  }, [every]);
  return { ...state, reload: useCallback(() => setTick((n) => n + 1), []) };
}

/**
 * An Idempotency-Key for what a form would send now: the same while its fields stay the same, so a double click or
 * a resend after a lost answer is one request; a new one once a field changes. (getRandomValues, since randomUUID
 * needs a secure context and the dashboard may be served over plain http on a LAN.)
 */
export function useSubmitKey(fields: unknown[]): string {
  return useMemo(() => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `dashboard-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }, fields);
}

import type { CountedDb } from "../db/client";

/** Typed context variables every handler can rely on. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** W3C trace id: from the caller's traceparent, or new. */
    traceId: string;
    db: CountedDb;
    /** The database holding this tenant's execution history (the main one's handle when it is the main one). */
    history: CountedDb;
    tenantId: string;
    apiKeyId: string;
    /** The key's own requests-per-minute limit, when it overrides the default. */
    apiKeyRate: number | null;
  };
}

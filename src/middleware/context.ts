import type { CountedDb } from "../db/client";

/** Typed context variables every handler can rely on. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: CountedDb;
    tenantId: string;
    apiKeyId: string;
    /** The key's own requests-per-minute limit, when it overrides the default. */
    apiKeyRate: number | null;
  };
}

// Which tenant secrets a template names (`{{ secrets.NAME }}`), and loading them: for a node's templated config
// (src/durable/attempt.ts) and for an agent's tools, which are rendered per call.
import { SecretsUnconfigured } from "../lib/secret-box";
import { FatalError, type RunServices } from "./types";

const SECRET_REF = /\bsecrets\.([A-Z][A-Z0-9_]{0,63})\b/g;

/** The secret names `text` refers to, each once. */
export function secretNamesIn(text: string): string[] {
  return [...new Set([...text.matchAll(SECRET_REF)].map((m) => m[1] as string))];
}

/** The named secrets' values; a name with no secret (or no SECRETS_KEY) fails the attempt, naming what to set. */
export async function loadNamedSecrets(names: string[], services: RunServices): Promise<Record<string, string>> {
  if (names.length === 0) return {};
  let found: Record<string, string>;
  try {
    found = await services.secrets(names);
  } catch (err) {
    if (err instanceof SecretsUnconfigured) throw new FatalError("secrets_unconfigured", err.message, { cause: err });
    throw err;
  }
  const missing = names.filter((n) => !(n in found));
  if (missing.length)
    throw new FatalError("secret_not_found", `no secret named ${missing.join(", ")} (PUT /v1/secrets/:name)`);
  return found;
}

// The only place configuration defaults live: [vars] are parsed with zod once per env object.
import { z } from "zod";

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const configSchema = z.object({
  MAX_BODY_BYTES: int(1024 * 1024, 1024, 100 * 1024 * 1024),
  DEFAULT_EXECUTION_TIMEOUT_SECONDS: int(7200, 1, 30 * 86_400),
  PROJECTION_FLUSH_MS: int(250, 0, 60_000),
});
export type Config = z.output<typeof configSchema>;

const cache = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    parsed = configSchema.parse(env);
    cache.set(env, parsed);
  }
  return parsed;
}

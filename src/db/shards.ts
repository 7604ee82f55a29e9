// Execution history can live in several D1 databases (docs/capacity.md says when one runs out). Tenants, keys and
// definitions stay in the main database (binding DB); a tenant's history goes to the shard fixed on its row
// (tenants.history_shard): -1 the main database, i the binding DB_HISTORY_<i>. A tenant never moves, so a shard
// added later only takes new tenants.

/** The main database's shard number. */
export const MAIN_SHARD = -1;

/** The history databases bound to this Worker: DB_HISTORY_0, DB_HISTORY_1, … up to the first one missing. */
export function historyShardCount(env: Env): number {
  const bound = env as unknown as Record<string, D1Database | undefined>;
  let n = 0;
  while (bound[`DB_HISTORY_${n}`]) n++;
  return n;
}

/** The database holding `shard`'s history; a tenant whose shard is no longer bound fails loudly, never elsewhere. */
export function historyDatabase(env: Env, shard: number): D1Database {
  if (shard === MAIN_SHARD) return env.DB;
  const d1 = (env as unknown as Record<string, D1Database | undefined>)[`DB_HISTORY_${shard}`];
  if (!d1) throw new Error(`history shard ${shard} (binding DB_HISTORY_${shard}) is not bound to this Worker`);
  return d1;
}

/** Every database that may hold history: the main one (tenants from before sharding) and each shard. */
export function historyDatabases(env: Env): { shard: number; d1: D1Database }[] {
  const n = historyShardCount(env);
  return [
    { shard: MAIN_SHARD, d1: env.DB },
    ...Array.from({ length: n }, (_, i) => ({ shard: i, d1: historyDatabase(env, i) })),
  ];
}

/**
 * The shard a new tenant gets: spread by a hash of its id over the shards bound now, or the main database when
 * there are none. Also used by scripts/lib/d1.mjs, which creates tenants from the command line.
 */
export function shardForNewTenant(tenantId: string, shards: number): number {
  if (shards === 0) return MAIN_SHARD;
  let h = 2166136261;
  for (let i = 0; i < tenantId.length; i++) h = Math.imul(h ^ tenantId.charCodeAt(i), 16777619);
  return (h >>> 0) % shards;
}

import { env } from "cloudflare:workers";
import { applyD1Migrations } from "cloudflare:test";
import { historyDatabases, MAIN_SHARD } from "../../src/db/shards";

// Storage is isolated per test file; every file starts from the real migrations, as `wrangler d1 migrations apply`
// would.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
// History shards (the `sharded` project binds two) get the same migrations.
for (const h of historyDatabases(env)) if (h.shard !== MAIN_SHARD) await applyD1Migrations(h.d1, env.TEST_MIGRATIONS);

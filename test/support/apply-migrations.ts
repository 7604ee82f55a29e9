import { env } from "cloudflare:workers";
import { applyD1Migrations } from "cloudflare:test";

// Storage is isolated per test file; every file starts from the real migrations, as `wrangler d1 migrations apply`
// would.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

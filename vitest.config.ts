import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Request logs are printed only for failing tests.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/engine/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest(async ({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("./migrations"),
                TARGET_URL: inject<string>("targetUrl"),
                PROJECTION_FLUSH_MS: "50",
                // Small enough to exercise in seconds: the tenant-wide limit, heartbeats, ticket expiry, lease renewal.
                MAX_SUBSCRIBERS_PER_TENANT: "150",
                SSE_HEARTBEAT_MS: "200",
                STREAM_TICKET_TTL_SECONDS: "1",
                SUBSCRIBER_LEASE_MS: "2000",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/api/**/*.test.ts", "test/durable/**/*.test.ts", "test/cron/**/*.test.ts"],
          globalSetup: ["./test/support/global-setup.ts"],
          setupFiles: ["./test/support/apply-migrations.ts"],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
    ],
  },
});

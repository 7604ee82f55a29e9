import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// The model every workers pool meters (test/durable/provider-limits.test.ts).
// gpt-4.1-nano-2025-04-14: metered by us only (the local server leaves it unlimited), for test/durable/agent.test.ts.
const METERED = {
  "openai:gpt-4.1-nano": { rpm: 1000, tpm: 1500 },
  "openai:gpt-4.1-nano-2025-04-14": { tpm: 1500 },
};

// One workerd pool (wrangler.toml plus the test bindings) for the workers tests and the reliability gates.
// `historyShards` adds that many history databases (DB_HISTORY_0…), as a deployment past one D1's capacity binds.
const workersPool = (historyShards = 0, overrides: Record<string, string> = {}) =>
  cloudflareTest(async ({ inject }) => ({
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: {
      d1Databases: Array.from({ length: historyShards }, (_, i) => `DB_HISTORY_${i}`),
      // The real AI binding needs Cloudflare's network; this auxiliary worker answers the same run(model, input) call.
      serviceBindings: { AI: "fake-workers-ai" },
      workers: [
        {
          name: "fake-workers-ai",
          modules: true,
          compatibilityDate: "2026-11-01",
          script: `import { WorkerEntrypoint } from "cloudflare:workers";
          export default class extends WorkerEntrypoint {
            async run(model, input) {
              const last = input.messages[input.messages.length - 1].content;
              return { response: "workers-ai " + model + ": " + last, usage: { prompt_tokens: 10, completion_tokens: 5 } };
            }
          }`,
        },
      ],
      bindings: {
        TEST_MIGRATIONS: await readD1Migrations("./migrations"),
        TARGET_URL: inject<string>("targetUrl"),
        OPENAI_URL: inject<string>("openaiUrl"),
        ANTHROPIC_URL: inject<string>("anthropicUrl"),
        GOOGLE_URL: inject<string>("googleUrl"),
        BEDROCK_URL: inject<string>("bedrockUrl"),
        // LLM tiers are current models, served by local servers that keep each provider's contract: strong →
        // Anthropic, mid → an OpenAI reasoning model (max_completion_tokens, no temperature), weak → OpenRouter
        // (OpenAI's protocol, reports its own cost).
        MODEL_STRONG: "anthropic:claude-sonnet-4-5",
        MODEL_MID: "openai:gpt-5-mini",
        MODEL_WEAK: "openrouter:openai/gpt-4o-mini",
        OPENAI_BASE_URL: `${inject<string>("openaiUrl")}/v1`,
        OPENAI_API_KEY: "sk-local-test",
        OPENROUTER_BASE_URL: `${inject<string>("openaiUrl")}/v1`,
        OPENROUTER_API_KEY: "or-local-test",
        ANTHROPIC_BASE_URL: inject<string>("anthropicUrl"),
        ANTHROPIC_API_KEY: "ak-local-test",
        GOOGLE_BASE_URL: `${inject<string>("googleUrl")}/v1beta`,
        GOOGLE_GENERATIVE_AI_API_KEY: "g-local-test",
        // Bedrock signs with SigV4; the local server checks the signature with the same key.
        BEDROCK_BASE_URL: inject<string>("bedrockUrl"),
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "AKIDLOCALTEST",
        AWS_SECRET_ACCESS_KEY: "local-secret-key",
        MODEL_PRICES: JSON.stringify({
          "openai:gpt-5-mini": { input_per_mtok: 10, output_per_mtok: 20 },
          "anthropic:claude-sonnet-4-5": { input_per_mtok: 30, output_per_mtok: 60 },
        }),
        // Off in the shared pool: the model servers are shared by every test file, and a tick's model check must not
        // spend another file's planned failure (/_fail-next). test/cron/models.test.ts turns it on for its own ticks.
        MODEL_CHECK_MINUTES: "0",
        // Provider admission: one model metered, over a 4 s window so a test fills it in seconds
        // (test/durable/provider-limits.test.ts sets the same limits on the local OpenAI server). Not shorter: a call
        // is counted for a second past the window (windowSlackMs, as with a minute's window in production), for the
        // delay from its admission to its arrival at the provider; with a 2 s window that slack was 0.5 s, and with
        // the files running side by side a delay over that met a 429 the test forbids (4 of 36 calls, once).
        PROVIDER_LIMITS: JSON.stringify(METERED),
        PROVIDER_LIMIT_WINDOW_SECONDS: "4",
        BREAKER_FAILURES: "3",
        BREAKER_COOLDOWN_MS: "500",
        PROJECTION_FLUSH_MS: "50",
        // The local test servers listen on loopback; everything else private stays refused.
        ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
        METRICS_TOKEN: "metrics-test-token",
        // Email nodes and alerts send from here; miniflare writes what its send_email binding accepts to disk.
        EMAIL_FROM: "edgeflow@alerts.example.com",
        // Approval links point here: the test client's origin (SELF.fetch answers any host).
        PUBLIC_URL: "http://edgeflow.test",
        // Small enough for a test to fill; no other test runs more than 20 at once for one tenant.
        MAX_RUNNING_EXECUTIONS_PER_TENANT: "20",
        // A 10,000-item map then runs as 20 alarm invocations.
        MAP_ITEMS_PER_INVOCATION: "500",
        // Tests poll quickly; the rate-limit test sets a per-key override instead.
        RATE_LIMIT_PER_MINUTE: "1000000",
        RATE_LIMIT_BURST: "100000",
        SECRETS_KEY: Buffer.from("edgeflow-test-secrets-key-32-byt").toString("base64"),
        // Small enough to exercise in seconds: the tenant-wide limit, heartbeats, ticket expiry, lease renewal.
        MAX_SUBSCRIBERS_PER_TENANT: "150",
        SSE_HEARTBEAT_MS: "200",
        STREAM_TICKET_TTL_SECONDS: "1",
        SUBSCRIBER_LEASE_MS: "2000",
        // A lost concurrency-key release is found within seconds, so the crash gate can show it.
        KEY_LEASE_SECONDS: "2",
        // Three 3 MiB outputs overrun it, so the budget can be shown failing a run.
        OUTPUT_BUDGET_BYTES: String(8 * 1024 * 1024),
        ...overrides,
      },
    },
  }));

const workersTest = {
  globalSetup: ["./test/support/global-setup.ts"],
  setupFiles: ["./test/support/apply-migrations.ts"],
  testTimeout: 30_000,
  hookTimeout: 30_000,
};

// The files that take minutes start first, so with one file per core a run ends about when its longest file does.
// Without vitest's cache (a fresh clone: CI) files are ordered by size, and the small file that sends the malformed
// gate's 78,000 requests started last, after the other worker had run the rest.
// In the `npm start` run (local and browser, two at a time), npm-start.test.ts waits out cron minutes: it goes first.
const LONGEST_FIRST = [
  "malformed.test.ts",
  "provider-admission.test.ts",
  "idempotency.test.ts",
  "npm-start.test.ts",
  "dashboard.test.ts",
];
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(`/${name}`));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    sequence: { sequencer: LongestFirst },
    // Request logs are printed only for failing tests.
    silent: "passed-only",
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        // The real `npm start` as a user runs it (wrangler dev and the local cron driver), from outside the pool.
        test: {
          name: "local",
          include: ["test/local/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 150_000,
        },
      },
      {
        // Reliability gates that need the real `npm start` over sockets (run by npm run test:reliability).
        test: {
          name: "reliability-local",
          include: ["test/reliability-local/**/*.test.ts"],
          environment: "node",
          testTimeout: 900_000,
          hookTimeout: 150_000,
        },
      },
      {
        // The dashboard in Debian's Chromium (playwright-core) against the real `npm start`.
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 150_000,
        },
      },
      {
        plugins: [workersPool()],
        test: {
          name: "workers",
          include: ["test/api/**/*.test.ts", "test/durable/**/*.test.ts", "test/cron/**/*.test.ts"],
          ...workersTest,
        },
      },
      {
        // The templates again with the tiers on the other providers' current models: Claude on Bedrock (a
        // cross-region inference profile id, SigV4), Gemini, and OpenAI's gpt-4o-mini (a chat model, max_tokens).
        plugins: [
          workersPool(0, {
            MODEL_STRONG: "bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            MODEL_MID: "google:gemini-2.5-flash",
            MODEL_WEAK: "openai:gpt-4o-mini",
          }),
        ],
        test: { name: "templates-tiers", include: ["test/durable/templates.test.ts"], ...workersTest },
      },
      {
        // The same pool with two history shards: tenants spread over them, every history query routed by tenant.
        plugins: [workersPool(2)],
        test: { name: "sharded", include: ["test/sharded/**/*.test.ts"], ...workersTest },
      },
      {
        // The reliability gates (npm run test:reliability): seeded suites whose figures are printed at the end.
        // gpt-4.1 at 100,000 tokens a window for the provider-admission gate, beside the shared pool's gpt-4.1-nano.
        plugins: [
          workersPool(0, {
            PROVIDER_LIMITS: JSON.stringify({
              ...METERED,
              "openai:gpt-4.1": { tpm: 100_000 },
            }),
            PROVIDER_LIMIT_WINDOW_SECONDS: "2",
          }),
        ],
        test: { name: "reliability", include: ["test/reliability/**/*.test.ts"], ...workersTest, testTimeout: 900_000 },
      },
    ],
  },
});

import { Hono } from "hono";
import { timing } from "hono/timing";
import { runTick } from "./cron/tick";
import type { AppEnv } from "./middleware/context";
import { requireApiKey } from "./middleware/auth";
import { corsForTenant, preflight } from "./middleware/cors";
import { rateLimit } from "./middleware/rate-limit";
import { notFound, onError } from "./middleware/errors";
import { requestContext } from "./middleware/request-id";
import { executions } from "./routes/executions";
import { resultsRoute } from "./routes/results";
import { conversationsRoute } from "./routes/conversations";
import { chatRoute } from "./routes/chat";
import { workflowExecutions } from "./routes/start";
import { corsRoute } from "./routes/cors";
import { health } from "./routes/health";
import { metrics } from "./routes/metrics";
import { openapi } from "./routes/openapi";
import { budget, models, usage } from "./routes/models";
import { queuesRoute } from "./routes/queues";
import { monitors } from "./routes/monitors";
import { schedules, workflowSchedules } from "./routes/schedules";
import { schemas } from "./routes/schemas";
import { secretsRoute } from "./routes/secrets";
import { connectionsRoute } from "./routes/connections";
import { approvalsRoute } from "./routes/approvals";
import { approvePage } from "./routes/approve-page";
import { replayChecks } from "./routes/replay-checks";
import { templates } from "./routes/templates";
import { streams, streamTickets } from "./routes/streams";
import { workflows } from "./routes/workflows";

export { ExecutionObject } from "./durable/execution";
export { TenantObject } from "./durable/tenant";
export { BreakerObject } from "./durable/breaker";
export { ConnectionObject } from "./durable/connection";
export { CheckerObject } from "./durable/checker";
export { MetricsObject } from "./durable/metrics";

export const app = new Hono<AppEnv>()
  .use("*", requestContext())
  .route("/health", health)
  .route("/", openapi)
  .route("/metrics", metrics)
  .route("/schemas", schemas)
  // What an approval link opens: the signed token is its authority, so no API key.
  .route("/approve", approvePage)
  // Streams authenticate themselves (bearer key or single-use ticket), so they sit before the key middleware.
  .route("/v1/executions", streams)
  .options("/v1/*", preflight)
  // Server-Timing on every /v1 answer: where its wall time went (auth, rate, and a start's own steps).
  .use("/v1/*", timing({ totalDescription: "in the Worker" }), corsForTenant())
  // Starting an execution authenticates and rate-limits inside its own single D1 batch and TenantObject call.
  .route("/v1/workflows/:id/executions", workflowExecutions)
  .use("/v1/*", requireApiKey(), rateLimit())
  .route("/v1/workflows", workflows)
  .route("/v1/workflows/:id/schedules", workflowSchedules)
  .route("/v1/stream-tickets", streamTickets)
  .route("/v1/monitors", monitors)
  .route("/v1/models", models)
  .route("/v1/budget", budget)
  .route("/v1/usage", usage)
  .route("/v1/queues", queuesRoute)
  .route("/v1/results", resultsRoute)
  .route("/v1/conversations", conversationsRoute)
  .route("/v1/chat", chatRoute)
  .route("/v1/templates", templates)
  .route("/v1/secrets", secretsRoute)
  .route("/v1/connections", connectionsRoute)
  .route("/v1/approvals", approvalsRoute)
  .route("/v1/replay-checks", replayChecks)
  .route("/v1/cors", corsRoute)
  .route("/v1/schedules", schedules)
  .route("/v1/executions", executions);

/** The route table's type, for Hono's typed client (hono/client). */
export type AppType = typeof app;

app.onError(onError);
app.notFound(notFound);

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await runTick(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;

import { Hono } from "hono";
import { templateJsonSchema, workflowJsonSchema } from "../engine/workflow-schema";
import { eventsJsonSchema } from "../engine/event-schema";
import type { AppEnv } from "../middleware/context";
import { kindSpecs } from "../nodes";

let cached: { workflow: string; template: string; events: string } | null = null;
const documents = () =>
  (cached ??= {
    workflow: JSON.stringify(workflowJsonSchema(kindSpecs)),
    template: JSON.stringify(templateJsonSchema(kindSpecs)),
    events: JSON.stringify(eventsJsonSchema()),
  });

const schemaResponse = (body: string) =>
  new Response(body, {
    headers: { "content-type": "application/schema+json", "cache-control": "public, max-age=300" },
  });

/**
 * GET /schemas/workflow.json and /schemas/template.json: public, for editors ("$schema" in a definition file);
 * /schemas/events.json: the execution event protocol.
 */
export const schemas = new Hono<AppEnv>()
  .get("/workflow.json", () => schemaResponse(documents().workflow))
  .get("/template.json", () => schemaResponse(documents().template))
  .get("/events.json", () => schemaResponse(documents().events));

import { Hono } from "hono";
import { z } from "zod";
import { validateDefinition } from "../engine/dag";
import { readJson } from "../middleware/body";
import type { AppEnv } from "../middleware/context";
import { AppError } from "../middleware/errors";
import { kindSpecs } from "../nodes";
import chatTurn from "../../templates/chat-turn.json";
import codeFixQueue from "../../templates/code-fix-queue.json";
import codeReview from "../../templates/code-review.json";
import draftAndMonitor from "../../templates/draft-and-monitor.json";
import orderIntake from "../../templates/order-intake.json";
import questionPipeline from "../../templates/question-pipeline.json";
import sdlcParallel from "../../templates/sdlc-parallel.json";
import supportChat from "../../templates/support-chat.json";
import { storeWorkflow } from "./workflows";

interface Template {
  name: string;
  description: string;
  input_example: unknown;
  definition: { name: string; input_schema?: unknown } & Record<string, unknown>;
}

/** The ready-to-run workflows shipped in templates/*.json. */
export const TEMPLATES: Template[] = [
  questionPipeline,
  sdlcParallel,
  draftAndMonitor,
  orderIntake,
  codeFixQueue,
  chatTurn,
  supportChat,
  codeReview,
] as Template[];

export const instantiateBody = z.object({ name: z.string().min(1).max(200).optional() }).strict();

/** GET /v1/templates, POST /v1/templates/:name/instantiate {name?} → a new workflow of the tenant's own. */
export const templates = new Hono<AppEnv>()
  .get("/", (c) =>
    c.json({
      data: TEMPLATES.map((t) => ({
        name: t.name,
        description: t.description,
        input_schema: t.definition.input_schema ?? null,
        input_example: t.input_example,
        nodes: (t.definition.nodes as unknown[]).length,
      })),
    }),
  )
  .post("/:name/instantiate", async (c) => {
    const template = TEMPLATES.find((t) => t.name === c.req.param("name"));
    if (!template)
      throw new AppError(
        404,
        "template_not_found",
        `No template "${c.req.param("name")}" (known: ${TEMPLATES.map((t) => t.name).join(", ")}).`,
      );
    const body = c.req.header("content-type") ? (await readJson(c, instantiateBody)).value : {};
    const checked = validateDefinition(
      { ...template.definition, ...(body.name ? { name: body.name } : {}) },
      kindSpecs,
    );
    // Shipped templates are validated by the test suite; this guards against a broken build all the same.
    if (!checked.ok)
      throw new AppError(500, "template_invalid", `Template ${template.name} is invalid.`, { errors: checked.errors });
    return storeWorkflow(c, checked.definition, { template: template.name });
  });

// An agent node's definition: its model (as an llm node names one), its conversation and its tools. Each tool is an
// http call template, a transform, a sub-workflow or an answer someone sends, run with the model's arguments as `args`.
import { z } from "zod";
import { executionTimeoutSeconds, formatPath, type FieldError, type NodeKindSpec } from "../../engine/dag";
import { compile, ExpressionError } from "../../engine/expr";
import { checkJsonSchema } from "../../engine/input";
import { retryPolicySchema } from "../../engine/retry";
import { conversation } from "../llm";
import { choiceFields, refineChoice } from "../llm/paid-call";
import { http } from "../http";

const MAX_SLEEP_MS = 365 * 86_400_000;

/** What OpenAI, Anthropic and Bedrock all accept as a function name. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const toolSchema = z
  .object({
    name: z.string().regex(TOOL_NAME, "a tool name is 1 to 64 letters, digits, _ or -"),
    description: z.string().max(4096).optional(),
    /** A JSON Schema of the arguments (an object); a call that fails it goes back to the model, never to the tool. */
    input_schema: z
      .record(z.string(), z.unknown())
      .default({ type: "object", properties: {}, additionalProperties: false }),
    /** An http node's config, its templates rendered over `args` (the call's arguments), `input` and `nodes`. */
    http: z.record(z.string(), z.unknown()).optional(),
    /** A JSONata expression over `args`, `input` and `nodes`. */
    transform: z.string().min(1).max(65_536).optional(),
    /** A child execution of another workflow; `input` is rendered over `args`. */
    workflow: z
      .object({
        workflow_id: z.string().min(1).max(64),
        version: z.number().int().min(1).optional(),
        input: z.unknown().optional(),
        timeout_seconds: executionTimeoutSeconds.optional(),
      })
      .strict()
      .optional(),
    /**
     * The call's result is what someone sends: the node waits for `POST /v1/executions/:id/events {name:
     * "<tool>:<node>:<step>", payload}` (a question to a person, answered inside the run), and the payload is the
     * result; no answer within `timeout_ms` is an error the model is told about.
     */
    event: z
      .object({ timeout_ms: z.number().int().min(1).max(MAX_SLEEP_MS) })
      .strict()
      .optional(),
    /**
     * Wait for `POST /v1/executions/:id/events {name: "approve:<node>:<step>", payload: {approved, by?, reason?}}`
     * before the call runs; a refusal or the timeout goes back to the model as a denied call.
     */
    requires_approval: z
      .union([z.boolean(), z.object({ timeout_ms: z.number().int().min(1).max(MAX_SLEEP_MS) }).strict()])
      .default(false),
    /** Retries of one call (network, 5xx, 429, timeouts), inside the node's attempt. */
    retry: retryPolicySchema.optional(),
    /** One try of one call. */
    timeout_ms: z.number().int().min(1).max(600_000).default(30_000),
  })
  .strict()
  .refine(
    (t) => [t.http, t.transform, t.workflow, t.event].filter((x) => x !== undefined).length === 1,
    "a tool is exactly one of http, transform, workflow and event",
  )
  .refine((t) => checkJsonSchema(t.input_schema) === null, "input_schema is not a valid JSON Schema")
  .refine((t) => t.input_schema.type === "object", 'input_schema is an object schema ({"type": "object", …})');
export type ToolDef = z.output<typeof toolSchema>;

export const agentConfig = refineChoice(
  z
    .object({
      ...choiceFields,
      system: z.string().max(200_000).optional(),
      messages: conversation,
      tools: z.array(toolSchema).min(1).max(32),
      /** Model turns before the node fails (agent_max_turns) instead of answering. */
      max_turns: z.number().int().min(1).max(100).default(10),
      /** Output tokens of one model turn (default: the tier's MODEL_<TIER>_MAX_TOKENS, else 1024). */
      max_tokens: z.number().int().min(1).max(200_000).optional(),
      temperature: z.number().min(0).max(2).optional(),
      /** Log each turn's text as node.delta while it comes. */
      stream: z.boolean().default(false),
      /** Calls with bad arguments or to unknown tools given back to the model before the node fails. */
      max_tool_errors: z.number().int().min(0).max(20).default(3),
    })
    .strict()
    .refine((c) => new Set(c.tools.map((t) => t.name)).size === c.tools.length, "tool names are unique"),
);
export type AgentConfig = z.output<typeof agentConfig>;

/** Tools that make the node wait mid-loop (a child, an answer, an approval). */
const waits = (t: ToolDef) => t.workflow !== undefined || t.event !== undefined || t.requires_approval !== false;

/** Save-time checks beyond the schema: each http tool is a valid http config, and a map item's agent never waits. */
export function checkAgent(node: { config: Record<string, unknown> }, at: readonly (string | number)[]): FieldError[] {
  const c = node.config as AgentConfig;
  const errors: FieldError[] = [];
  const inMap = at[at.length - 1] === "node" && at[at.length - 2] === "config";
  c.tools.forEach((t, i) => {
    const path = [...at, "config", "tools", i];
    if (t.http) {
      const parsed = http.config.safeParse(t.http);
      if (!parsed.success)
        for (const issue of parsed.error.issues)
          errors.push({ path: formatPath([...path, "http", ...issue.path]), message: issue.message });
    }
    if (t.transform !== undefined)
      try {
        compile(t.transform);
      } catch (err) {
        errors.push({
          path: formatPath([...path, "transform"]),
          message: `invalid expression: ${err instanceof ExpressionError ? err.message : String(err)}`,
        });
      }
    if (inMap && waits(t))
      errors.push({
        path: formatPath(path),
        message:
          "an agent that is a map's item cannot wait: a workflow or event tool, or requires_approval, needs its own node",
      });
  });
  return errors;
}

export const agentSpec: Pick<NodeKindSpec, "config" | "expressionFields" | "check"> = {
  config: agentConfig,
  // Tools are rendered per call, over the call's arguments: not when the attempt starts.
  expressionFields: ["tools"],
  check: (node, at) => checkAgent(node, at),
};

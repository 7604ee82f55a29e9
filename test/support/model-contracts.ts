// What each provider's real API refuses, and how it says so: the request checks and error bodies of OpenAI's
// Chat Completions, Anthropic's Messages, Gemini's generateContent and Bedrock's Converse, as documented and as
// the services answer today. test/support/llm-server.ts applies them before it answers.

export interface Refusal {
  status: number;
  body: unknown;
}

// Published output limits (the same figures the provider layer's catalog keeps, held here on their own so a
// wrong figure on either side shows up as a refused call).
const OPENAI: [RegExp, number][] = [
  [/^gpt-5-chat/, 16_384],
  [/^gpt-5/, 128_000],
  [/^gpt-4\.1/, 32_768],
  [/^gpt-4o/, 16_384],
  [/^o1-mini/, 65_536],
  [/^o(1|3|4-mini)/, 100_000],
];
const ANTHROPIC: [RegExp, number][] = [
  [/^claude-(opus|sonnet|haiku)-4-5/, 64_000],
  [/^claude-sonnet-4/, 64_000],
  [/^claude-opus-4/, 32_000],
  [/^claude-3-5-haiku/, 8_192],
];
const GEMINI: [RegExp, number][] = [
  [/^gemini-(2\.5|3)/, 65_536],
  [/^gemini-2\.0/, 8_192],
];

const limitOf = (table: [RegExp, number][], model: string) => table.find(([re]) => re.test(model))?.[1];
export const openaiReasoning = (model: string) => /^(o\d)(-|$)/.test(model) || /^gpt-5(?!-chat)/.test(model);

const openaiError = (status: number, message: string, param: string | null, code: string | null): Refusal => ({
  status,
  body: { error: { message, type: "invalid_request_error", param, code } },
});

/** OpenAI Chat Completions (and OpenRouter, which takes "vendor/model" ids and the same body). */
export function openaiRefusal(body: any, headers: Record<string, unknown>, openrouter: boolean): Refusal | null {
  if (!/^Bearer \S+/.test(String(headers.authorization ?? "")))
    return openaiError(401, "You didn't provide an API key.", null, "invalid_api_key");
  const id = String(body.model ?? "");
  const model = openrouter ? id.replace(/^openai\//, "") : id;
  const known = limitOf(OPENAI, model);
  if (!openrouter && known === undefined)
    return openaiError(
      404,
      `The model \`${id}\` does not exist or you do not have access to it.`,
      null,
      "model_not_found",
    );
  if (openrouter && !/^[\w.-]+\/[\w.:-]+$/.test(id))
    return openaiError(400, `${id} is not a valid model ID`, null, null);
  const reasoning = openaiReasoning(model) && (known !== undefined || !openrouter);
  if (reasoning && body.max_tokens !== undefined)
    return openaiError(
      400,
      "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      "max_tokens",
      "unsupported_parameter",
    );
  if (reasoning && body.temperature !== undefined && body.temperature !== 1)
    return openaiError(
      400,
      `Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`,
      "temperature",
      "unsupported_value",
    );
  const asked = body.max_completion_tokens ?? body.max_tokens;
  if (known !== undefined && typeof asked === "number" && asked > known)
    return openaiError(
      400,
      `max_tokens is too large: ${asked}. This model supports at most ${known} completion tokens, whereas you provided ${asked}.`,
      "max_tokens",
      "invalid_value",
    );
  const tools = openaiToolProblem(body);
  if (tools) return tools;
  const format = body.response_format;
  if (format?.type === "json_object") {
    const said = JSON.stringify(body.messages ?? []).toLowerCase();
    if (!said.includes("json"))
      return openaiError(
        400,
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        "messages",
        null,
      );
  }
  if (format?.type === "json_schema" && format.json_schema?.strict === true) {
    const problem = strictProblem(format.json_schema.schema, "");
    if (problem)
      return openaiError(
        400,
        `Invalid schema for response_format '${format.json_schema.name}': ${problem}`,
        "response_format",
        "invalid_json_schema",
      );
  }
  if (body.stream_options && !body.stream)
    return openaiError(
      400,
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
      null,
    );
  return null;
}

/** OpenAI's strict structured outputs: every object closed (additionalProperties false) with all properties required. */
function strictProblem(schema: any, context: string): string | null {
  if (!schema || typeof schema !== "object") return null;
  if (schema.type === "object" || schema.properties) {
    if (schema.additionalProperties !== false)
      return `In context=(${context}), 'additionalProperties' is required to be supplied and to be false.`;
    const missing = Object.keys(schema.properties ?? {}).filter((k) => !(schema.required ?? []).includes(k));
    if (missing.length)
      return `In context=(${context}), 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing[0]}'.`;
    for (const [k, v] of Object.entries(schema.properties ?? {})) {
      const inner = strictProblem(v, `${context}${context ? ", " : ""}'properties', '${k}'`);
      if (inner) return inner;
    }
  }
  if (schema.items) return strictProblem(schema.items, `${context}${context ? ", " : ""}'items'`);
  return null;
}

const anthropicError = (status: number, type: string, message: string): Refusal => ({
  status,
  body: { type: "error", error: { type, message } },
});

const ANTHROPIC_FIELDS = new Set([
  "model",
  "messages",
  "max_tokens",
  "system",
  "temperature",
  "top_p",
  "top_k",
  "stop_sequences",
  "stream",
  "tools",
  "tool_choice",
  "metadata",
  "thinking",
  "service_tier",
  "output_format",
  "output_config",
  "container",
  "mcp_servers",
  "context_management",
]);

/** Anthropic Messages: max_tokens is required and bounded per model; no unknown fields; no trailing-space prefill. */
export function anthropicRefusal(body: any, headers: Record<string, unknown>): Refusal | null {
  if (!headers["x-api-key"]) return anthropicError(401, "authentication_error", "x-api-key header is required");
  if (!headers["anthropic-version"])
    return anthropicError(400, "invalid_request_error", "anthropic-version: header is required");
  for (const field of Object.keys(body))
    if (!ANTHROPIC_FIELDS.has(field))
      return anthropicError(400, "invalid_request_error", `${field}: Extra inputs are not permitted`);
  const model = String(body.model ?? "");
  const limit = limitOf(ANTHROPIC, model);
  if (limit === undefined) return anthropicError(404, "not_found_error", `model: ${model}`);
  if (body.max_tokens === undefined) return anthropicError(400, "invalid_request_error", "max_tokens: Field required");
  if (body.max_tokens > limit)
    return anthropicError(
      400,
      "invalid_request_error",
      `max_tokens: ${body.max_tokens} > ${limit}, which is the maximum allowed number of output tokens for ${model}`,
    );
  if (body.temperature !== undefined && body.top_p !== undefined && /4-5/.test(model))
    return anthropicError(
      400,
      "invalid_request_error",
      "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
    );
  const tools = anthropicToolProblem(body);
  if (tools) return tools;
  const last = body.messages?.[body.messages.length - 1];
  if (last?.role === "assistant") {
    const text = textOf(last.content);
    if (/\s$/.test(text))
      return anthropicError(
        400,
        "invalid_request_error",
        "messages: final assistant content cannot end with trailing whitespace",
      );
  }
  return null;
}

/** Tool messages answer the tool_calls of the assistant message before them, every one, and nothing else. */
function openaiToolProblem(body: any): Refusal | null {
  for (const t of body.tools ?? [])
    if (t?.function?.parameters?.type !== "object")
      return openaiError(
        400,
        `Invalid schema for function '${t?.function?.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${t?.function?.parameters?.type}"'.`,
        "tools[0].function.parameters",
        "invalid_function_parameters",
      );
  const messages: any[] = body.messages ?? [];
  let open: string[] = [];
  for (const [i, m] of messages.entries()) {
    if (m.role === "tool") {
      if (!open.includes(m.tool_call_id))
        return openaiError(
          400,
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
          null,
        );
      open = open.filter((id) => id !== m.tool_call_id);
      continue;
    }
    if (open.length)
      return openaiError(
        400,
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${open.join(", ")}`,
        "messages",
        null,
      );
    open = m.role === "assistant" ? (m.tool_calls ?? []).map((c: any) => c.id) : [];
  }
  return null;
}

/** Anthropic: every tool_use block is answered by a tool_result in the very next (user) message, and only those. */
function anthropicToolProblem(body: any): Refusal | null {
  const messages: any[] = body.messages ?? [];
  for (const [i, m] of messages.entries()) {
    const blocks = Array.isArray(m.content) ? m.content : [];
    const uses = m.role === "assistant" ? blocks.filter((b: any) => b?.type === "tool_use").map((b: any) => b.id) : [];
    const next = messages[i + 1];
    const answered = Array.isArray(next?.content)
      ? next.content.filter((b: any) => b?.type === "tool_result").map((b: any) => b.tool_use_id)
      : [];
    const missing = uses.filter((id: string) => !answered.includes(id));
    if (missing.length)
      return anthropicError(
        400,
        "invalid_request_error",
        `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
      );
    const before = messages[i - 1];
    const asked =
      before?.role === "assistant" && Array.isArray(before.content)
        ? before.content.filter((b: any) => b?.type === "tool_use").map((b: any) => b.id)
        : [];
    for (const [j, b] of blocks.entries())
      if (b?.type === "tool_result" && !asked.includes(b.tool_use_id))
        return anthropicError(
          400,
          "invalid_request_error",
          `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        );
  }
  return null;
}

const googleError = (status: number, message: string, state: string): Refusal => ({
  status,
  body: { error: { code: status, message, status: state } },
});

/** Gemini generateContent: an API key, a known model, maxOutputTokens within the model's range. */
export function googleRefusal(model: string, body: any, headers: Record<string, unknown>): Refusal | null {
  if (!headers["x-goog-api-key"])
    return googleError(403, "Method doesn't allow unregistered callers. Please use API Key.", "PERMISSION_DENIED");
  const limit = limitOf(GEMINI, model);
  if (limit === undefined) return googleError(404, `models/${model} is not found for API version v1beta.`, "NOT_FOUND");
  const asked = body.generationConfig?.maxOutputTokens;
  if (typeof asked === "number" && asked > limit)
    return googleError(
      400,
      `Unable to submit request because it has a maxOutputTokens value of ${asked} but the supported range is from 1 (inclusive) to ${limit + 1} (exclusive). Update the value and try again.`,
      "INVALID_ARGUMENT",
    );
  return null;
}

/** Bedrock Converse: the inference configuration's maxTokens within the model's limit. */
export function bedrockRefusal(modelId: string, body: any): Refusal | null {
  const model = modelId.replace(/^(us|eu|apac|global)\./, "").replace(/^anthropic\./, "");
  const limit = limitOf(ANTHROPIC, model);
  if (limit === undefined) return { status: 400, body: { message: "The provided model identifier is invalid." } };
  const asked = body.inferenceConfig?.maxTokens;
  if (typeof asked === "number" && asked > limit)
    return {
      status: 400,
      body: {
        message: `The maximum tokens you requested exceeds the model limit of ${limit}. Try again with a maximum tokens value that is lower than ${limit}.`,
      },
    };
  return null;
}

/** The text of a message's content, as a string or as content blocks. */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((b: any) => (typeof b?.text === "string" ? b.text : "")).join("");
}

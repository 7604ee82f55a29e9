import { z } from "zod";
import { checkJsonSchema } from "../../engine/input";
import { FatalError, RetryableError, type NodeExecutor, type RunServices } from "../types";
import { tierMaxTokens, type ResolvedModel } from "./config";
import { readJsonAnswer } from "./json-answer";
import {
  choiceFields,
  choicesOf,
  noneSpent,
  paidCall,
  refineChoice,
  withFallback,
  type CallIds,
  type Choice,
} from "./paid-call";

const message = z
  .object({ role: z.enum(["user", "assistant", "system"]), content: z.string().min(1).max(1_000_000) })
  .strict();

/** The most messages one llm call takes (a conversation's history window stays under it). */
export const MAX_LLM_MESSAGES = 200;
const messageList = z.array(message).min(1).max(MAX_LLM_MESSAGES);
type Message = z.output<typeof message>;

// A union would report a bad element as "Invalid input": checked by hand, each issue keeps its exact path.
export const conversation = z
  .unknown()
  .superRefine((value, ctx) => {
    if (typeof value === "string") {
      if (!/^\{\{[\s\S]+\}\}$/.test(value))
        ctx.addIssue({
          code: "custom",
          message: "must be an array of {role, content} or one {{ template }} that yields it",
        });
      return;
    }
    const checked = messageList.safeParse(value);
    if (!checked.success)
      for (const issue of checked.error.issues)
        ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  })
  .transform((value) => value as Message[] | string);

const config = refineChoice(
  z
    .object({
      ...choiceFields,
      system: z.string().max(200_000).optional(),
      /** The conversation, or one {{ template }} that yields it (a history from the input or an upstream node). */
      messages: conversation,
      /** Default: the tier's MODEL_<TIER>_MAX_TOKENS, else 1024. */
      max_tokens: z.number().int().min(1).max(200_000).optional(),
      /**
       * An answer cut by the token limit fails (llm_truncated), is continued from where it stopped until it ends or
       * max_tokens_cap output tokens are spent ("continue"; "retry_with_more" is its older name), or is kept.
       */
      on_truncation: z.enum(["fail", "continue", "retry_with_more", "accept"]).default("fail"),
      /** How many output tokens one answer may take across its continuations (default 4x max_tokens). */
      max_tokens_cap: z.number().int().min(1).max(200_000).optional(),
      temperature: z.number().min(0).max(2).optional(),
      /** Use the provider's streaming API and log the text as node.delta while it comes (resumable by seq). */
      stream: z.boolean().default(false),
      response_format: z.enum(["text", "json"]).default("text"),
      json_schema: z.record(z.string(), z.unknown()).optional(),
    })
    .strict()
    .refine(
      (c) => c.json_schema === undefined || c.response_format === "json",
      "json_schema needs response_format json",
    )
    .refine(
      (c) => c.json_schema === undefined || checkJsonSchema(c.json_schema) === null,
      "json_schema is not a valid JSON Schema",
    ),
);
type LlmConfig = z.output<typeof config>;

/**
 * A call to a language model by tier or by provider + model, with budget, circuit breaker, truncation and JSON
 * checks, and fallbacks: the next model answers when the one before has an open circuit, or fails retryably on the
 * node's last attempt. The output names the model that answered.
 */
export const llm: NodeExecutor<typeof config> = {
  config,
  defaultTimeoutMs: 120_000,
  async run({ config: c, signal, idempotencyKey, attempt, lastAttempt, services }) {
    if (typeof c.messages === "string")
      throw new FatalError("invalid_config", `messages: ${c.messages} yielded no messages`);
    const messages = c.messages;
    const { value, passed } = await withFallback(services, choicesOf(c), lastAttempt, (target, choice) =>
      answer(services, target, choice, c, messages, { signal, idempotencyKey, attempt }),
    );
    return { ok: true, output: passed.length ? { ...value, fallback_from: passed } : value };
  },
};

/**
 * One model's answer: the output limit, the first call, continuations of a cut answer, and for JSON one more turn
 * inside the same attempt that shows the model what was wrong (every call budgeted, counted and paid).
 */
async function answer(
  services: RunServices,
  target: ResolvedModel,
  choice: Choice,
  c: LlmConfig,
  messages: Message[],
  call: CallIds,
) {
  const vars = services.env as unknown as Record<string, unknown>;
  const spent = noneSpent();
  let maxTokens = c.max_tokens ?? (choice.tier ? tierMaxTokens(vars, choice.tier) : null) ?? 1024;
  const limit = target.facts.output_limit;
  if (limit !== null && maxTokens > limit) {
    spent.warnings.push(
      `max_tokens ${maxTokens} is above ${describeTarget(target)}'s output limit of ${limit}: clamped to ${limit}`,
    );
    maxTokens = limit;
  }
  const cap = Math.max(maxTokens, c.max_tokens_cap ?? Math.min(200_000, maxTokens * 4));
  const json = c.response_format === "json";
  // `from`: where in the answer this call's text goes (0 for a whole answer, the length so far for a continuation),
  // so a client streaming node.delta replaces or extends what it has exactly as the output will.
  const ask = (conversation: Message[], tokens: number, structured: boolean, from = 0) =>
    paidCall(services, target, c, conversation, tokens, structured, call, spent, from);

  let res = await ask(messages, maxTokens, json);
  let text = res.text;
  const continues = c.on_truncation === "continue" || c.on_truncation === "retry_with_more";
  while (res.truncated && continues && spent.usage.output_tokens < cap) {
    // The rest of a cut answer, not the whole answer again with more tokens: only the new part is paid as output.
    text = target.sdk === "anthropic" ? text.trimEnd() : text;
    const tokens = Math.min(maxTokens, cap - spent.usage.output_tokens);
    res = await ask(continuation(target, messages, text), tokens, false, text.length);
    text += res.text;
  }
  if (res.truncated && c.on_truncation !== "accept") {
    const hint = continues ? `max_tokens_cap (${cap}) was reached` : "raise max_tokens, or set on_truncation";
    throw new FatalError(
      "llm_truncated",
      `${target.provider}:${res.model} cut its answer at max_tokens ${maxTokens}: ${hint}`,
    );
  }
  // What the output says of the calls this answer took, read once they are all made (a repair turn adds one).
  const summary = () => ({
    model: res.model,
    provider: target.provider,
    usage: spent.usage,
    cost_usd: spent.cost_usd,
    cost_source: spent.cost_source,
    latency_ms: spent.latency_ms,
    max_tokens: maxTokens,
    ...(spent.calls > 1 ? { calls: spent.calls } : {}),
    ...(res.truncated ? { truncated: true } : {}),
    ...(spent.warnings.length ? { warnings: spent.warnings } : {}),
  });
  if (!json) return { text, ...summary() };
  let parsed = readJsonAnswer(text, c.json_schema);
  if (parsed.ok) return { json: parsed.value, ...summary() };
  const retry = await ask(
    [
      ...messages,
      { role: "assistant", content: text || "(empty)" },
      { role: "user", content: repairPrompt(parsed.problem) },
    ],
    maxTokens,
    true,
  );
  parsed = readJsonAnswer(retry.text, c.json_schema);
  if (!parsed.ok)
    throw new RetryableError(
      "invalid_json_response",
      `the model's answer is not the JSON asked for, twice in this attempt: ${parsed.problem}`,
    );
  return { json: parsed.value, ...summary(), repaired: true };
}

const describeTarget = (t: ResolvedModel) => `${t.provider}:${t.model}`;

const repairPrompt = (problem: string) =>
  `Your previous answer could not be used: ${problem}. Answer again with only the corrected JSON value, nothing else.`;

/**
 * The conversation that asks for the rest of a cut answer. Anthropic continues an assistant message given as the
 * last turn (prefill); other providers are asked to continue it.
 */
function continuation(target: ResolvedModel, messages: Message[], sofar: string): Message[] {
  const prefix: Message[] = [...messages, { role: "assistant", content: sofar }];
  if (target.sdk === "anthropic" || (target.sdk === "bedrock" && target.facts.family === "anthropic")) return prefix;
  return [
    ...prefix,
    {
      role: "user",
      content:
        "Your answer was cut off by the output limit. Continue exactly where it stopped: no repetition, no preface.",
    },
  ];
}

// Monitor state transitions (thresholds) and alert cooldowns; called by the monitor tick after each check.
import { decodeHTML } from "entities/decode";
import { z } from "zod";
import { CONNECTION_NAME } from "./connection";
import { emailAddress } from "./email-address";
import { compile, holds } from "./expr";

/** What a monitor checks: an http endpoint, or a workflow that must succeed. Shared by the API, the tick and create_monitor. */
const needles = z.union([z.string().min(1).max(1000), z.array(z.string().min(1).max(1000)).min(1).max(20)]);

/**
 * Assertions on a check's response body: a removed or shadow-banned post still answers 200, so status alone cannot
 * see what a monitoring user needs. `json` is a JSONata predicate over the parsed body.
 */
export const expectSchema = z
  .object({
    body_contains: needles.optional(),
    body_not_contains: needles.optional(),
    json: z
      .string()
      .min(1)
      .max(4096)
      .refine((e) => compiles(e), "must be a valid JSONata expression")
      .optional(),
  })
  .strict();
export type Expect = z.output<typeof expectSchema>;

export const httpCheck = z
  .object({
    kind: z.literal("http"),
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
    expect_status: z.number().int().min(100).max(599).optional(),
    expect: expectSchema.optional(),
    timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
    /** Sent with every check: a site that refuses unnamed clients wants a User-Agent. */
    headers: z
      .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/, "must be a header name"), z.string().max(4096))
      .refine((h) => Object.keys(h).length <= 30, "at most 30 headers")
      .optional(),
    /** An OAuth2 connection whose bearer token goes with every check; a 401 gets a fresh one and one more GET/HEAD. */
    connection: z.string().regex(CONNECTION_NAME, `must match ${CONNECTION_NAME.source}`).optional(),
  })
  .strict();
export const workflowCheck = z
  .object({
    kind: z.literal("workflow"),
    workflow_id: z.string().min(1).max(64),
    input: z.unknown().optional(),
    timeout_ms: z.number().int().min(100).max(60_000).default(30_000),
  })
  .strict();
export const checkSchema = z.discriminatedUnion("kind", [httpCheck, workflowCheck]);
export const alertSchema = z
  .object({
    webhook_url: z.url({ protocol: /^https?$/ }).optional(),
    /** Addresses told by email (one message each), besides or instead of the webhook. */
    email: z.array(emailAddress).min(1).max(20).optional(),
    cooldown_seconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(3600),
    /**
     * When the monitor goes down or unreachable, run this workflow (input {monitor, alert}); an approval node in it is
     * how someone acknowledges, with its reminders and escalation. The run is cancelled if the monitor recovers first.
     */
    acknowledge: z
      .object({ workflow_id: z.string().min(1).max(64) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.webhook_url !== undefined || a.email !== undefined || a.acknowledge !== undefined, {
    message: "an alert needs a webhook_url, an email list, an acknowledge workflow, or several",
  });

/** The channels an alert goes out on, one alert row each. */
export function alertChannels(alert: z.output<typeof alertSchema>): ("webhook" | "email")[] {
  return [...(alert.webhook_url ? (["webhook"] as const) : []), ...(alert.email ? (["email"] as const) : [])];
}

export type MonitorStatus = "unknown" | "up" | "down" | "unreachable";

/**
 * What one check says. `gone`: the site answered and what is watched is not there (404, 410, another status than
 * expected, a body assertion that fails on a good answer). `unreachable`: the check could not see (network error,
 * timeout, 401, 403, 407, 408, 425, 429, 5xx): a blocked or rate-limited check says nothing about the post.
 */
export type CheckOutcome = "up" | "gone" | "unreachable";

/** Statuses that say the checker was refused or the site is unwell, not that the watched thing is gone. */
export function unreachableStatus(status: number): boolean {
  return [401, 403, 407, 408, 425, 429].includes(status) || status >= 500;
}

export interface MonitorState {
  status: MonitorStatus;
  consecutive_failures: number;
  consecutive_successes: number;
  consecutive_unreachable: number;
}

export interface Thresholds {
  failure_threshold: number;
  recovery_threshold: number;
  unreachable_threshold: number;
}

export type Transition = "down" | "up" | "unreachable";

/**
 * Apply one check result. A monitor goes down only after `failure_threshold` consecutive `gone` checks, and
 * unreachable after `unreachable_threshold` consecutive `unreachable` ones (which neither count towards down nor
 * break a run of gone checks: they saw nothing); it comes back up after `recovery_threshold` consecutive successes.
 * `transition` names a change worth an alert. From `unknown`, the first success is up (no alert). A monitor that is
 * down stays down while checks are unreachable: nothing says the post came back.
 */
export function applyCheck(
  state: MonitorState,
  outcome: CheckOutcome,
  t: Thresholds,
): MonitorState & { transition: Transition | null } {
  const ok = outcome === "up";
  const failures = ok ? 0 : state.consecutive_failures + (outcome === "gone" ? 1 : 0);
  const unreachable = outcome === "unreachable" ? state.consecutive_unreachable + 1 : 0;
  const successes = ok ? state.consecutive_successes + 1 : 0;
  let status = state.status;
  let transition: Transition | null = null;
  if (outcome === "gone" && status !== "down" && failures >= t.failure_threshold) {
    status = "down";
    transition = "down";
  } else if (
    outcome === "unreachable" &&
    (status === "up" || status === "unknown") &&
    unreachable >= t.unreachable_threshold
  ) {
    status = "unreachable";
    transition = "unreachable";
  } else if (ok && (status === "down" || status === "unreachable") && successes >= t.recovery_threshold) {
    status = "up";
    transition = "up";
  } else if (ok && status === "unknown") {
    status = "up";
  }
  return {
    status,
    consecutive_failures: failures,
    consecutive_successes: successes,
    consecutive_unreachable: unreachable,
    transition,
  };
}

/** An alert may go out when no earlier alert of this monitor was sent within the cooldown. */
export function cooldownAllows(lastSentAt: number | null, now: number, cooldownSeconds: number): boolean {
  return lastSentAt === null || now - lastSentAt >= cooldownSeconds * 1000;
}

/** Backoff between alert delivery attempts: 30 s doubling to an hour. */
export function alertRetryDelay(attempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, attempts - 1));
}

function compiles(expression: string): boolean {
  try {
    compile(expression);
    return true;
  } catch {
    return false;
  }
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Text as a reader sees it: HTML entities decoded (a page writes "Tom &amp; Jerry&#39;s" for a title a model wrote
 * as "Tom & Jerry's") and every run of whitespace, non-breaking spaces included, as one space.
 */
export function readableText(text: string): string {
  return decodeHTML(text)
    .replace(/[\s\u00a0]+/g, " ")
    .trim();
}

/**
 * What of `expect` a response body fails, each as a line naming the assertion; empty when it passes. The text
 * assertions compare body and needle as readable text (readableText), so markup escaping and line breaks do not
 * decide whether a post is there.
 */
export async function failedExpectations(expect: Expect, body: string): Promise<string[]> {
  const failed: string[] = [];
  const text = readableText(body);
  for (const needle of list(expect.body_contains))
    if (!text.includes(readableText(needle))) failed.push(`body_contains ${JSON.stringify(needle)}: not found`);
  for (const needle of list(expect.body_not_contains))
    if (text.includes(readableText(needle))) failed.push(`body_not_contains ${JSON.stringify(needle)}: found`);
  if (expect.json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      failed.push(`json ${JSON.stringify(expect.json)}: the body is not JSON`);
      return failed;
    }
    try {
      if (!(await holds(expect.json, parsed))) failed.push(`json ${JSON.stringify(expect.json)}: false`);
    } catch (err) {
      failed.push(`json ${JSON.stringify(expect.json)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failed;
}

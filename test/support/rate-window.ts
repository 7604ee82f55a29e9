// OpenAI's rate limits as its API enforces them, for the local model server: requests and tokens per window per
// model, a request counted at arrival as the prompt's characters / 4 plus the max tokens it allows, and a request
// over either limit answered 429 with the documented body (type "requests" or "tokens", code rate_limit_exceeded),
// x-ratelimit-* headers and retry-after. Limits are set per model with POST /_limits; GET /_limits/<model> tells
// how many were accepted and refused. The window is short in tests (the Worker's PROVIDER_LIMIT_WINDOW_SECONDS
// matches it) so a test fills it in seconds.
import { textOf } from "./model-contracts";

export interface Limits {
  rpm?: number;
  tpm?: number;
  window_ms: number;
}

export class RateWindows {
  private readonly limits = new Map<string, Limits>();
  private readonly seen = new Map<string, { at: number; tokens: number }[]>();
  private readonly tally = new Map<string, { accepted: number; refused: number; max_tokens_in_window: number }>();

  set(model: string, limits: Limits): void {
    this.limits.set(model, limits);
    this.seen.set(model, []);
    this.tally.set(model, { accepted: 0, refused: 0, max_tokens_in_window: 0 });
  }

  report(model: string) {
    return this.tally.get(model) ?? { accepted: 0, refused: 0, max_tokens_in_window: 0 };
  }

  /** Count an OpenAI chat request; a refusal's status, headers and body when it is over a limit. */
  check(model: string, body: any): { status: number; headers: Record<string, string>; body: unknown } | null {
    const limits = this.limits.get(model);
    if (!limits) return null;
    const now = Date.now();
    const calls = (this.seen.get(model) ?? []).filter((c) => c.at > now - limits.window_ms);
    this.seen.set(model, calls);
    const chars = (body.messages ?? []).reduce((n: number, m: any) => n + textOf(m.content).length, 0);
    const requested = Math.ceil(chars / 4) + Number(body.max_completion_tokens ?? body.max_tokens ?? 0);
    const used = calls.reduce((s, c) => s + c.tokens, 0);
    const tally = this.report(model);
    const over =
      limits.rpm !== undefined && calls.length + 1 > limits.rpm
        ? ("requests" as const)
        : limits.tpm !== undefined && used + requested > limits.tpm
          ? ("tokens" as const)
          : null;
    if (over) {
      tally.refused += 1;
      const waitMs = Math.max(1, (calls[0]?.at ?? now) + limits.window_ms - now);
      const what =
        over === "tokens"
          ? `tokens per min (TPM): Limit ${limits.tpm}, Used ${used}, Requested ${requested}`
          : `requests per min (RPM): Limit ${limits.rpm}, Used ${calls.length}, Requested 1`;
      return {
        status: 429,
        headers: {
          "retry-after": String(Math.ceil(waitMs / 1000)),
          "x-ratelimit-limit-tokens": String(limits.tpm ?? ""),
          "x-ratelimit-remaining-tokens": String(Math.max(0, (limits.tpm ?? 0) - used)),
          "x-ratelimit-limit-requests": String(limits.rpm ?? ""),
          "x-ratelimit-remaining-requests": String(Math.max(0, (limits.rpm ?? 0) - calls.length)),
        },
        body: {
          error: {
            message: `Rate limit reached for ${model} in organization org-local on ${what}. Please try again in ${waitMs}ms. Visit https://platform.openai.com/account/rate-limits to learn more.`,
            type: over,
            param: null,
            code: "rate_limit_exceeded",
          },
        },
      };
    }
    calls.push({ at: now, tokens: requested });
    tally.accepted += 1;
    tally.max_tokens_in_window = Math.max(tally.max_tokens_in_window, used + requested);
    return null;
  }
}

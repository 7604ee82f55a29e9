import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      TARGET_URL: string;
      OPENAI_URL: string;
      ANTHROPIC_URL: string;
      GOOGLE_URL: string;
      BEDROCK_URL: string;
    }
  }
}

declare module "vitest" {
  interface ProvidedContext {
    targetUrl: string;
    openaiUrl: string;
    anthropicUrl: string;
    googleUrl: string;
    bedrockUrl: string;
  }
}
export {};

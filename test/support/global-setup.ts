import type { TestProject } from "vitest/node";
import { startLlmServer } from "./llm-server";
import { startTargetServer } from "./target-server";

/** Starts the real local HTTP services the workers under test call; nothing of ours is mocked. */
export default async function setup(project: TestProject) {
  const target = await startTargetServer();
  const openai = await startLlmServer("openai");
  const anthropic = await startLlmServer("anthropic");
  const google = await startLlmServer("google");
  const bedrock = await startLlmServer("bedrock");
  project.provide("targetUrl", target.url);
  project.provide("openaiUrl", openai.url);
  project.provide("anthropicUrl", anthropic.url);
  project.provide("googleUrl", google.url);
  project.provide("bedrockUrl", bedrock.url);
  return async () => {
    const gates = target.gates();
    if (gates.length)
      console.log(
        `\nReliability gates (each fails its suite when missed):\n${gates
          .sort()
          .map((g) => `  ${g}`)
          .join("\n")}\n`,
      );
    await Promise.all([target.close(), openai.close(), anthropic.close(), google.close(), bedrock.close()]);
  };
}

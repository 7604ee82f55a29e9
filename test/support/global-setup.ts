import type { TestProject } from "vitest/node";
import { startTargetServer } from "./target-server";

/** Starts the real local HTTP services the workers under test call; nothing of ours is mocked. */
export default async function setup(project: TestProject) {
  const target = await startTargetServer();
  project.provide("targetUrl", target.url);
  return async () => target.close();
}

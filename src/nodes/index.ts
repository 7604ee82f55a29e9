import type { NodeKindSpec } from "../engine/dag";
import { mapSpec } from "../engine/map";
import { agent } from "./agent";
import { approval } from "./approval";
import { email } from "./email";
import { http } from "./http";
import { llm } from "./llm";
import { createMonitor } from "./monitor";
import { subWorkflow } from "./workflow";
import { transform } from "./transform";
import { sleep, waitForEvent } from "./wait";
import type { NodeExecutor } from "./types";

/** Every node kind the engine runs; the validator and the ExecutionObject both read this one table. */
export const executors: Record<string, NodeExecutor> = {
  http,
  llm,
  agent,
  transform,
  email,
  approval,
  sleep,
  wait_for_event: waitForEvent,
  create_monitor: createMonitor,
  workflow: subWorkflow,
} as Record<string, NodeExecutor>;

/** What the validator checks, per kind: every executor, and `map`, which the ExecutionObject runs itself. */
export const kindSpecs: Record<string, NodeKindSpec> = { ...executors, map: mapSpec };

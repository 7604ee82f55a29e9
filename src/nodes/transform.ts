import { z } from "zod";
import { evaluate } from "../engine/expr";
import { FatalError, type NodeExecutor } from "./types";

const config = z.object({ expression: z.string().min(1).max(65_536) }).strict();

/** Evaluates one JSONata expression over `input` and upstream `nodes.<id>.output`. */
export const transform: NodeExecutor<typeof config> = {
  config,
  expressionFields: ["expression"],
  defaultTimeoutMs: 10_000,
  async run({ config, expr }) {
    try {
      return { ok: true, output: (await evaluate(config.expression, expr)) ?? null };
    } catch (err) {
      throw new FatalError("expression_error", err instanceof Error ? err.message : String(err));
    }
  },
};

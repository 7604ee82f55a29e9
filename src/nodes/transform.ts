import { z } from "zod";
import { evaluate, UndefinedValueError } from "../engine/expr";
import { FatalError, type NodeExecutor } from "./types";

const config = z.object({ expression: z.string().min(1).max(65_536) }).strict();

/** Evaluates one JSONata expression over `input` and upstream `nodes.<id>.output`. */
export const transform: NodeExecutor<typeof config> = {
  config,
  expressionFields: ["expression"],
  defaultTimeoutMs: 10_000,
  async run({ config, expr }) {
    let output: unknown;
    try {
      output = await evaluate(config.expression, expr);
    } catch (err) {
      if (err instanceof UndefinedValueError)
        throw new FatalError("template_undefined", err.at("config.expression").message, { cause: err });
      throw new FatalError("expression_error", err instanceof Error ? err.message : String(err), { cause: err });
    }
    // No value is not null: a path that matched nothing fails loudly instead of passing null downstream.
    if (output === undefined)
      throw new FatalError(
        "template_undefined",
        new UndefinedValueError("config.expression", config.expression).message,
      );
    return { ok: true, output };
  },
};

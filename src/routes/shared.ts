import { z } from "zod";
import { decodeCursor } from "../lib/cursor";

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export const limitParam = z.coerce.number().int().min(1).max(100).default(20);

export const cursorParam = z
  .string()
  .max(512)
  .optional()
  .transform((raw, ctx) => {
    try {
      return decodeCursor(raw);
    } catch {
      ctx.addIssue({ code: "custom", message: "malformed cursor" });
      return z.NEVER;
    }
  });

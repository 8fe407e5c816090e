import type { z } from "zod";
import { ValidationError } from "./errors";

/** Parses with a zod schema; a failure is a ValidationError naming each failing field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, raw: unknown, prefix = ""): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter(Boolean).join("."),
    message: i.message,
  }));
  const first = issues[0];
  throw new ValidationError(first ? `${first.field || "body"}: ${first.message}` : "invalid input", { issues });
}

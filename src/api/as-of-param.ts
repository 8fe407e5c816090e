import { z } from "@hono/zod-openapi";

/** `?asOf=TIME`: answer from the log as it stood at that time instead of from the live tables. */
export const asOfQuery = z
  .string()
  .datetime({ offset: true, message: "an ISO 8601 time with a zone, e.g. 2026-01-01T12:00:00Z" })
  .optional()
  .openapi({ description: "Show the state at this time, folded from the event log.", example: "2026-01-01T12:00:00Z" });

import { createRoute, z } from "@hono/zod-openapi";
import { LOG_START, type LogCheckpoint } from "../store/event-store";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { errorResponses, eventJsonOf, EventSchema } from "./schemas";

/**
 * The global log, for clients that follow everything. A cursor is "<transactionId>:<position>"
 * (the store's checkpoint), so a reader never skips an event a slower transaction commits later.
 * Digits are bounded so any cursor that passes is a valid xid8 and int8: no driver errors.
 */
const cursorPattern = /^\d{1,19}:\d{1,15}$/;

const EventPageSchema = z
  .object({
    items: z.array(EventSchema),
    nextCursor: z.string().openapi({ description: "Always present: pass it as `after` to poll for what comes next.", example: "742:1031" }),
  })
  .openapi("EventPage");

const listRoute = createRoute({
  method: "get",
  path: "/v1/events",
  summary: "Events of every stream, in commit order",
  request: {
    query: z.object({
      after: z.string().regex(cursorPattern, "not a cursor (<transactionId>:<position>)").optional().openapi({ example: "742:1031" }),
      limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: "integer", example: 100 }),
    }),
  },
  responses: { 200: { description: "The next events", content: { "application/json": { schema: EventPageSchema } } }, ...errorResponses(400) },
});

function parseCursor(cursor: string | undefined): LogCheckpoint {
  if (!cursor) return LOG_START;
  const [transactionId, position] = cursor.split(":");
  return { transactionId: String(BigInt(transactionId!)), position: Number(position) };
}

export function registerEventRoutes(app: ApiApp, drydock: Drydock): void {
  app.openapi(listRoute, async (c) => {
    const { after, limit } = c.req.valid("query");
    const { events, checkpoint } = await drydock.store.readAll(parseCursor(after), { limit });
    return c.json({ items: events.map(eventJsonOf), nextCursor: `${checkpoint.transactionId}:${checkpoint.position}` }, 200);
  });
}

import { z } from "@hono/zod-openapi";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { afterQuery, cursorOf, eventFilterQuery, logFilterOf, parseCursor } from "./event-filters";
import { registerEventStreamRoute } from "./event-stream-route";
import { errorResponses, eventJsonOf, EventSchema } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

/**
 * The global log, for clients that follow everything. A cursor is "<transactionId>:<position>"
 * (the store's checkpoint), so a reader never skips an event a slower transaction commits later.
 * Filters (type, stream, actor, since, until) narrow what is returned, not where the cursor
 * goes: it moves past the rows that were read and did not match, so paging always ends.
 */

const EventPageSchema = z
  .object({
    items: z.array(EventSchema),
    nextCursor: z.string().openapi({ description: "Always present: pass it as `after` to poll for what comes next.", example: "742:1031" }),
  })
  .openapi("EventPage");

export const listRoute = defineRoute({
  access: rules.admin,
  method: "get",
  path: "/v1/events",
  summary: "Events of every stream, in commit order",
  request: {
    query: z.object({
      after: afterQuery,
      ...eventFilterQuery,
      limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ type: "integer", example: 100 }),
    }),
  },
  responses: { 200: { description: "The next events", content: { "application/json": { schema: EventPageSchema } } }, ...errorResponses(400) },
});

export function registerEventRoutes(app: ApiApp, drydock: Drydock): void {
  app.openapi(listRoute, async (c) => {
    const { after, limit, ...filters } = c.req.valid("query");
    const { events, checkpoint } = await drydock.store.readAll(parseCursor(after), { ...logFilterOf(filters), limit });
    return c.json({ items: events.map(eventJsonOf), nextCursor: cursorOf(checkpoint) }, 200);
  });
  registerEventStreamRoute(app, drydock);
}

import { z } from "@hono/zod-openapi";
import { streamIdOf } from "../../events/envelope";
import { clientOf } from "../auth/scope";
import { onlyResourcesLeasedBy } from "../auth/visibility";
import { holdResource, releaseResource, releaseResourceHold } from "../commands/resource-commands";
import { MAX_HOLD_SECONDS } from "../domain/resource-hold";
import { NotFoundError } from "../domain/errors";
import { getResourceAsOf, listResourcesAsOf } from "../queries/as-of-queries";
import { getResource, listResources } from "../queries/resource-queries";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { asOfQuery } from "./as-of-param";
import { cursorQuery, idParams, idString, limitQuery, plainText, resourceTypeString, splitList, statusListQuery } from "./params";
import { errorResponses, eventJsonOf, EventListSchema, ResourcePageSchema, ResourceSchema } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

const RESOURCE_STATUSES = ["pending", "active", "released", "broken", "destroyed"] as const;

const resourceJson = (description: string) => ({ description, content: { "application/json": { schema: ResourceSchema } } });

export const listRoute = defineRoute({
  access: rules.any,
  method: "get",
  path: "/v1/resources",
  summary: "List resources, newest first",
  request: {
    query: z.object({
      status: statusListQuery(RESOURCE_STATUSES),
      resourceType: resourceTypeString.optional(),
      blueprintId: idString.optional(),
      held: z.enum(["true", "false"]).optional().openapi({ description: "true: only resources on hold; false: only those not on hold." }),
      cursor: cursorQuery,
      limit: limitQuery,
      asOf: asOfQuery,
    }),
  },
  responses: { 200: { description: "A page of resources", content: { "application/json": { schema: ResourcePageSchema } } }, ...errorResponses(400) },
});

export const getRoute = defineRoute({
  access: rules.resource("id"),
  method: "get",
  path: "/v1/resources/{id}",
  summary: "Get a resource",
  request: { params: idParams, query: z.object({ asOf: asOfQuery }) },
  responses: { 200: resourceJson("The resource"), ...errorResponses(400, 404) },
});

export const eventsRoute = defineRoute({
  access: rules.admin,
  method: "get",
  path: "/v1/resources/{id}/events",
  summary: "The resource's events, in order",
  request: { params: idParams },
  responses: { 200: { description: "The resource stream", content: { "application/json": { schema: EventListSchema } } }, ...errorResponses(404) },
});

export const releaseRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/resources/{id}/release",
  summary: "Release a resource: its leases are let go and it is destroyed",
  request: {
    params: idParams,
    body: { required: false, content: { "application/json": { schema: z.strictObject({ reason: plainText(500).optional() }).openapi("ResourceRelease") } } },
  },
  responses: { 200: resourceJson("The resource, released"), ...errorResponses(400, 404, 409) },
});

export const holdRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/resources/{id}/hold",
  summary: "Put a resource on hold: it takes no new lease and is not destroyed until the hold is released or ends",
  request: {
    params: idParams,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .strictObject({
              reason: plainText(500).openapi({ description: "Why: shown on the resource, in allocation attempts that skip it, and by explain." }),
              untilSeconds: z.number().int().min(1).max(MAX_HOLD_SECONDS).optional().openapi({ description: "The hold ends by itself this many seconds from now. Omitted: until released." }),
            })
            .openapi("ResourceHold"),
        },
      },
    },
  },
  responses: { 200: resourceJson("The resource, on hold"), ...errorResponses(400, 404, 409) },
});

export const releaseHoldRoute = defineRoute({
  access: rules.admin,
  method: "delete",
  path: "/v1/resources/{id}/hold",
  summary: "Release a resource's hold: it takes leases again, or, if it has ended, is destroyed",
  request: { params: idParams, query: z.object({ reason: plainText(500).optional() }) },
  responses: { 200: resourceJson("The resource, no longer on hold"), ...errorResponses(400, 404, 409) },
});

export function registerResourceRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;
  const history = { db, store: drydock.store };

  app.openapi(listRoute, async (c) => {
    const { asOf, ...q } = c.req.valid("query");
    // A client sees the resources its leases are or were on (and reads one only then: access policy).
    const leaseOwner = clientOf(c.get("principal"));
    const held = q.held === undefined ? undefined : q.held === "true";
    const filter = { ...q, held, status: splitList(q.status), leaseOwner };
    if (!asOf) return c.json(await listResources(db, filter), 200);
    const all = await listResourcesAsOf(history, { ...filter, asOf: new Date(asOf) });
    // As of a moment, `held` filters the page read (the past has no index to ask).
    const page = held === undefined ? all : { ...all, items: all.items.filter((r) => (r.hold !== null) === held) };
    return c.json(leaseOwner === undefined ? page : await onlyResourcesLeasedBy(db, leaseOwner, page), 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { asOf } = c.req.valid("query");
    return c.json(asOf ? await getResourceAsOf(history, id, new Date(asOf)) : await getResource(db, id), 200);
  });

  app.openapi(eventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const events = await drydock.store.readStream(streamIdOf("resource", id));
    if (events.length === 0) throw new NotFoundError("resource", id);
    return c.json({ items: events.map(eventJsonOf) }, 200);
  });

  app.openapi(releaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    await releaseResource(drydock.commands, id, reason ?? null, c.get("actor"));
    return c.json(await getResource(db, id), 200);
  });

  app.openapi(holdRoute, async (c) => {
    const { id } = c.req.valid("param");
    await holdResource(drydock.commands, id, c.req.valid("json"), c.get("actor"));
    return c.json(await getResource(db, id), 200);
  });

  app.openapi(releaseHoldRoute, async (c) => {
    const { id } = c.req.valid("param");
    await releaseResourceHold(drydock.commands, id, c.req.valid("query").reason ?? null, c.get("actor"));
    return c.json(await getResource(db, id), 200);
  });
}

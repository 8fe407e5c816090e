import { z } from "@hono/zod-openapi";
import { streamIdOf } from "../../events/envelope";
import { clientOf } from "../auth/scope";
import { onlyResourcesLeasedBy } from "../auth/visibility";
import { releaseResource } from "../commands/resource-commands";
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

export function registerResourceRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;
  const history = { db, store: drydock.store };

  app.openapi(listRoute, async (c) => {
    const { asOf, ...q } = c.req.valid("query");
    // A client sees the resources its leases are or were on (and reads one only then: access policy).
    const leaseOwner = clientOf(c.get("principal"));
    const filter = { ...q, status: splitList(q.status), leaseOwner };
    if (!asOf) return c.json(await listResources(db, filter), 200);
    const page = await listResourcesAsOf(history, { ...filter, asOf: new Date(asOf) });
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
}

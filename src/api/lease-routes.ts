import { createRoute, z } from "@hono/zod-openapi";
import { streamIdOf } from "../../events/envelope";
import { authorizingObjectOf, leaseOwnerScope } from "../auth/scope";
import { MAX_TTL_SECONDS, releaseLease, renewLease, requestLease } from "../commands/lease-commands";
import { NotFoundError } from "../domain/errors";
import { getLeaseAsOf, listLeasesAsOf } from "../queries/as-of-queries";
import { getLease, listLeases } from "../queries/lease-queries";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { asOfQuery } from "./as-of-param";
import { cursorQuery, idParams, idString, jsonRecord, limitQuery, ownerString, resourceTypeString, splitList, statusListQuery } from "./params";
import { errorResponses, eventJsonOf, EventListSchema, LeasePageSchema, LeaseSchema } from "./schemas";
import { isSettled, waitForLease } from "./lease-wait";
import { registerLeaseExplainRoute } from "./lease-explain-route";

const LEASE_STATUSES = ["pending", "acquired", "active", "released", "broken", "destroyed"] as const;
const MAX_WAIT_SECONDS = 300;

const waitQuery = z.coerce
  .number()
  .min(0)
  .max(MAX_WAIT_SECONDS)
  .optional()
  .openapi({ type: "number", description: "Seconds to wait for the lease to become active (or end).", example: 10 });

const ttlSeconds = z.number().int().min(1).max(MAX_TTL_SECONDS);

const LeaseRequestSchema = z
  .strictObject({
    resourceType: resourceTypeString.openapi({ example: "host" }),
    attributes: jsonRecord(64).optional().openapi({ example: { os: "linux" } }),
    ttlSeconds: ttlSeconds.nullable().optional().openapi({ description: "Omitted or null: the lease lives until released.", example: 3600 }),
    blueprintIds: z.array(idString).max(32).optional(),
  })
  .openapi("LeaseRequest");

const leaseJson = (description: string) => ({ description, content: { "application/json": { schema: LeaseSchema } } });

const createLease = createRoute({
  method: "post",
  path: "/v1/leases",
  summary: "Request a lease",
  description: "Without `wait`, answers 202 at once. With `wait`, answers 201 once the lease is active, 200 if it ended (broken, released) and 202 if it is still pending when the wait ends.",
  request: {
    query: z.object({ wait: waitQuery }),
    body: { required: true, content: { "application/json": { schema: LeaseRequestSchema } } },
  },
  responses: {
    201: leaseJson("The lease is active"),
    200: leaseJson("The lease ended before becoming active"),
    202: leaseJson("The lease is pending"),
    ...errorResponses(400, 413, 422),
  },
});

const listLeasesRoute = createRoute({
  method: "get",
  path: "/v1/leases",
  summary: "List leases, newest first",
  request: {
    query: z.object({
      status: statusListQuery(LEASE_STATUSES),
      resourceType: resourceTypeString.optional(),
      owner: ownerString.optional(),
      resourceId: idString.optional(),
      cursor: cursorQuery,
      limit: limitQuery,
      asOf: asOfQuery,
    }),
  },
  responses: { 200: { description: "A page of leases", content: { "application/json": { schema: LeasePageSchema } } }, ...errorResponses(400) },
});

const getLeaseRoute = createRoute({
  method: "get",
  path: "/v1/leases/{id}",
  summary: "Get a lease",
  description: "With `wait`, long-polls until the lease is active or ended (or the wait ends).",
  request: { params: idParams, query: z.object({ wait: waitQuery, asOf: asOfQuery }) },
  responses: { 200: leaseJson("The lease"), ...errorResponses(400, 404) },
});

const releaseLeaseRoute = createRoute({
  method: "post",
  path: "/v1/leases/{id}/release",
  summary: "Release a lease",
  request: { params: idParams },
  responses: { 200: leaseJson("The lease, released"), ...errorResponses(404, 409) },
});

const renewLeaseRoute = createRoute({
  method: "post",
  path: "/v1/leases/{id}/renew",
  summary: "Renew a lease: it now expires ttlSeconds from now",
  request: {
    params: idParams,
    body: { required: true, content: { "application/json": { schema: z.strictObject({ ttlSeconds }).openapi("LeaseRenewal") } } },
  },
  responses: { 200: leaseJson("The lease, renewed"), ...errorResponses(400, 404, 409) },
});

const leaseEventsRoute = createRoute({
  method: "get",
  path: "/v1/leases/{id}/events",
  summary: "The lease's events, in order",
  request: { params: idParams },
  responses: { 200: { description: "The lease stream", content: { "application/json": { schema: EventListSchema } } }, ...errorResponses(404) },
});

export function registerLeaseRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;
  const history = { db, store: drydock.store };

  app.openapi(createLease, async (c) => {
    const body = c.req.valid("json");
    const { wait } = c.req.valid("query");
    // The token's owner owns the lease; a client's lease may use only blueprints it is authorized for.
    const principal = c.get("principal");
    const leaseId = await requestLease(drydock.commands, body, principal.owner, c.get("actor"), { authorizingObject: authorizingObjectOf(principal) });
    if (!wait) return c.json(await getLease(db, leaseId), 202);
    const lease = await waitForLease(drydock, leaseId, wait, c.req.raw.signal);
    if (lease.status === "active") return c.json(lease, 201);
    return c.json(lease, isSettled(lease) ? 200 : 202);
  });

  app.openapi(listLeasesRoute, async (c) => {
    const { asOf, ...q } = c.req.valid("query");
    const scope = leaseOwnerScope(c.get("principal"), q.owner);
    if (scope === null) return c.json({ items: [], nextCursor: null }, 200);
    const filter = { ...q, ...scope, status: splitList(q.status) };
    const page = asOf ? await listLeasesAsOf(history, { ...filter, asOf: new Date(asOf) }) : await listLeases(db, filter);
    return c.json(page, 200);
  });

  app.openapi(getLeaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { wait, asOf } = c.req.valid("query");
    if (asOf) return c.json(await getLeaseAsOf(history, id, new Date(asOf)), 200);
    const lease = await getLease(db, id);
    if (!wait || isSettled(lease)) return c.json(lease, 200);
    return c.json(await waitForLease(drydock, id, wait, c.req.raw.signal), 200);
  });

  app.openapi(releaseLeaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    await releaseLease(drydock.commands, id, c.get("actor"));
    return c.json(await getLease(db, id), 200);
  });

  app.openapi(renewLeaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    await renewLease(drydock.commands, id, c.req.valid("json").ttlSeconds, c.get("actor"));
    return c.json(await getLease(db, id), 200);
  });

  app.openapi(leaseEventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const events = await drydock.store.readStream(streamIdOf("lease", id));
    if (events.length === 0) throw new NotFoundError("lease", id);
    return c.json({ items: events.map(eventJsonOf) }, 200);
  });

  registerLeaseExplainRoute(app, drydock);
}

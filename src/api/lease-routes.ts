import { z } from "@hono/zod-openapi";
import { LeaseOwners } from "../auth/lease-owners";
import { streamIdOf } from "../../events/envelope";
import { authorizingObjectOf, leaseOwnerScope } from "../auth/scope";
import { MAX_HOLD_ON_FAILURE_SECONDS } from "../domain/resource-hold";
import { cancelWaitingLease, MAX_TTL_SECONDS, prepareLeaseRequest, releaseLease, renewLease, requestLease } from "../commands/lease-commands";
import { NotFoundError } from "../domain/errors";
import { getLeaseAsOf, listLeasesAsOf } from "../queries/as-of-queries";
import { getLease, listLeases, type LeaseRecord } from "../queries/lease-queries";
import type { Actor } from "../commands/command-context";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { asOfQuery } from "./as-of-param";
import { cursorQuery, idParams, idString, jsonRecord, limitQuery, ownerString, resourceTypeString, splitList, statusListQuery } from "./params";
import { errorResponses, eventJsonOf, EventListSchema, LeasePageSchema, LeaseSchema } from "./schemas";
import { isSettled, waitForLease } from "./lease-wait";
import { StaleCapacityView } from "../allocator/capacity-view-cache";
import { recentReleasedLease } from "./recent-lease";
import { registerLeaseExplainRoute } from "./lease-explain-route";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

const LEASE_STATUSES = ["pending", "acquired", "active", "released", "broken", "destroyed"] as const;
const MAX_WAIT_SECONDS = 300;

const waitQuery = z.coerce
  .number()
  .min(0)
  .max(MAX_WAIT_SECONDS)
  .optional()
  .openapi({ type: "number", description: "Seconds to wait for the lease to become active (or end).", example: 10 });

const ttlSeconds = z.number().int().min(1).max(MAX_TTL_SECONDS);

const cancelOnDisconnectQuery = z
  .enum(["0", "1", "true", "false"])
  .optional()
  .openapi({ description: "With `wait`: 1 releases the lease if the client disconnects before it is active (as the `cancelOnDisconnect` body field does).", example: "1" });

/** The detail of the LeaseReleased a disconnect appends (reason `requested`: the client asked for it). */
export const DISCONNECT_DETAIL = "client disconnected while waiting";

const LeaseRequestSchema = z
  .strictObject({
    resourceType: resourceTypeString.openapi({ example: "host" }),
    attributes: jsonRecord(64).optional().openapi({ example: { os: "linux" } }),
    ttlSeconds: ttlSeconds.nullable().optional().openapi({
      description:
        "Seconds until the system releases the lease (reason `expired`), unless renewed. Omitted: the token's default, else the acquiring blueprint's, else the service's (DRYDOCK_DEFAULT_LEASE_TTL, 3600). null: no TTL, for admins only (403 for a client).",
      example: 3600,
    }),
    blueprintIds: z.array(idString).max(32).optional(),
    priority: z.number().int().min(-1000).max(1000).optional().openapi({
      description: "The lease's place in the queue: waiting leases are served higher priority first, then oldest first. Default 0; only an admin may ask for more (403 for a client); anyone may ask for less.",
      example: 0,
    }),
    holdOnFailure: z
      .strictObject({ seconds: z.number().int().min(1).max(MAX_HOLD_ON_FAILURE_SECONDS) })
      .optional()
      .openapi({
        description:
          "If the lease fails on its resource (its setup there fails for good, or the resource breaks while the lease is active), the resource is kept on hold this long: no new lease, not destroyed, so a person can look.",
        example: { seconds: 3600 },
      }),
    waitIfOverQuota: z.boolean().optional().openapi({
      description: "false: when the requesting token's owner already holds as many live leases as its quota allows, refuse with 429 `quota_exceeded` (nothing stored) instead of queueing a lease that waits (reason `quota: …`). Default true.",
    }),
    cancelOnDisconnect: z.boolean().optional().openapi({ description: "With `?wait`: release the lease if the client disconnects before it is active." }),
  })
  .openapi("LeaseRequest");

const leaseJson = (description: string) => ({ description, content: { "application/json": { schema: LeaseSchema } } });

export const createLease = defineRoute({
  access: rules.any,
  rateLimit: "leases",
  // A known token is read with the capacity view a waiting request reads anyway (TokenCheck).
  tokenCheckedByHandler: true,
  method: "post",
  path: "/v1/leases",
  summary: "Request a lease",
  description: "Without `wait`, answers 202 at once. With `wait`, answers 201 once the lease is active, 200 if it ended (broken, released) and 202 if it is still pending when the wait ends.",
  request: {
    query: z.object({ wait: waitQuery, cancelOnDisconnect: cancelOnDisconnectQuery }),
    body: { required: true, content: { "application/json": { schema: LeaseRequestSchema } } },
  },
  responses: {
    201: leaseJson("The lease is active"),
    200: leaseJson("The lease ended before becoming active"),
    202: leaseJson("The lease is pending"),
    ...errorResponses(400, 403, 413, 422, 429),
  },
});

export const listLeasesRoute = defineRoute({
  access: rules.any,
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

export const getLeaseRoute = defineRoute({
  access: rules.lease("id"),
  method: "get",
  path: "/v1/leases/{id}",
  summary: "Get a lease",
  description: "With `wait`, long-polls until the lease is active or ended (or the wait ends).",
  request: { params: idParams, query: z.object({ wait: waitQuery, cancelOnDisconnect: cancelOnDisconnectQuery, asOf: asOfQuery }) },
  responses: { 200: leaseJson("The lease"), ...errorResponses(400, 404) },
});

export const releaseLeaseRoute = defineRoute({
  access: rules.lease("id"),
  // The release's append checks the token: a known token on a known lease is not read first.
  tokenCheckedByHandler: true,
  method: "post",
  path: "/v1/leases/{id}/release",
  summary: "Release a lease",
  request: { params: idParams },
  responses: { 200: leaseJson("The lease, released"), ...errorResponses(404, 409) },
});

/** A renewal's answer: the lease, and the cap (its blueprint's maxLeaseSeconds) if it cut the renewal. */
const RenewedLeaseSchema = LeaseSchema.extend({
  capped: z
    .object({ maxLeaseSeconds: z.number().int(), at: z.string().datetime({ offset: true }) })
    .nullable()
    .openapi({ description: "Set when the blueprint's maxLeaseSeconds cut the renewal: the lease expires at `at` (its request time plus the cap), not ttlSeconds from now." }),
}).openapi("RenewedLease");

export const renewLeaseRoute = defineRoute({
  access: rules.lease("id"),
  method: "post",
  path: "/v1/leases/{id}/renew",
  summary: "Renew a lease: it now expires ttlSeconds from now",
  request: {
    params: idParams,
    body: { required: true, content: { "application/json": { schema: z.strictObject({ ttlSeconds }).openapi("LeaseRenewal") } } },
  },
  responses: {
    200: { description: "The lease, renewed; `capped` when its blueprint's cap cut the renewal", content: { "application/json": { schema: RenewedLeaseSchema } } },
    ...errorResponses(400, 404, 409),
  },
});

export const leaseEventsRoute = defineRoute({
  access: rules.lease("id"),
  method: "get",
  path: "/v1/leases/{id}/events",
  summary: "The lease's events, in order",
  request: { params: idParams },
  responses: { 200: { description: "The lease stream", content: { "application/json": { schema: EventListSchema } } }, ...errorResponses(404) },
});

export function registerLeaseRoutes(app: ApiApp, drydock: Drydock, owners = new LeaseOwners()): void {
  const db = drydock.database.db;
  const history = { db, store: drydock.store };

  /**
   * cancelOnDisconnect: the wait ended because the client went away (the request's signal
   * aborted when its socket closed) and the lease is not active yet, so nobody will use it:
   * release it as the client, saying why. An active lease is left alone: the client may have it.
   */
  const cancelIfGone = async (leaseId: string, lease: LeaseRecord, signal: AbortSignal, actor: Actor) => {
    if (!signal.aborted || isSettled(lease)) return;
    await cancelWaitingLease(drydock.commands, leaseId, DISCONNECT_DETAIL, actor);
  };

  app.openapi(createLease, async (c) => {
    const { cancelOnDisconnect: cancelInBody, ...body } = c.req.valid("json");
    const query = c.req.valid("query");
    // The token's owner owns the lease; a client's lease may use only blueprints it is authorized for.
    // A token the auth middleware did not read (check) is read before anything is stored: with
    // the capacity view when the request waits, by itself when not.
    const check = c.get("tokenCheck");
    const principal = check && !query.wait ? await check.principal() : c.get("principal");
    const authorizingObject = authorizingObjectOf(principal);
    // Who owns the lease, remembered once it is stored: the release checks it without a read.
    const ownership = { owner: principal.owner, authorizingObject };
    // The token's terms as its principal has them, when it was read.
    const terms = { clientTtlSeconds: principal.defaultLeaseTtlSeconds ?? null, clientQuota: principal.leaseQuota ?? null };
    if (!query.wait) {
      const leaseId = await requestLease(drydock.commands, body, principal.owner, c.get("actor"), { authorizingObject, ...terms });
      owners.remember(leaseId, ownership);
      return c.json(await getLease(db, leaseId), 202);
    }
    // A client that waits gets the fast path: this process decides on the request before storing
    // it, and stores both in one transaction (waitForLease).
    // A token not read yet is read with the view, its terms with it.
    // The view may be one kept from an earlier request (the optimistic acquire); proved stale, the
    // request is made again whole over a view read for it, as if the first try had never been.
    const prepare = (freshView: boolean) =>
      prepareLeaseRequest(drydock.commands, body, principal.owner, c.get("actor"), { authorizingObject, withAllocationSnapshot: true, freshView, ...(check ? { token: check } : terms) });
    let prepared = await prepare(false);
    if (prepared.snapshot?.kept) drydock.metrics.keptViewDecisions.inc();
    let lease: LeaseRecord;
    try {
      lease = await waitForLease(drydock, prepared.leaseId, query.wait, c.req.raw.signal, prepared);
    } catch (error) {
      if (!(error instanceof StaleCapacityView)) throw error;
      drydock.metrics.keptViewRefusals.inc();
      prepared = await prepare(true);
      lease = await waitForLease(drydock, prepared.leaseId, query.wait, c.req.raw.signal, prepared);
    }
    const leaseId = prepared.leaseId;
    owners.remember(leaseId, ownership);
    if (cancelInBody === true || isOn(query.cancelOnDisconnect)) await cancelIfGone(leaseId, lease, c.req.raw.signal, c.get("actor"));
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
    const { wait, asOf, cancelOnDisconnect } = c.req.valid("query");
    if (asOf) return c.json(await getLeaseAsOf(history, id, new Date(asOf)), 200);
    const lease = await getLease(db, id);
    if (!wait || isSettled(lease)) return c.json(lease, 200);
    const waited = await waitForLease(drydock, id, wait, c.req.raw.signal);
    if (isOn(cancelOnDisconnect)) await cancelIfGone(id, waited, c.req.raw.signal, c.get("actor"));
    return c.json(waited, 200);
  });

  app.openapi(releaseLeaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    // The teardown is due at once: a process whose worker runs runs it itself, after answering
    // (one whose worker is stopped does no work in the background, and leaves it to the others).
    const claim = drydock.worker.runsInBackground ? drydock.worker.newClaim() : undefined;
    const { state: before } = await releaseLease(drydock.commands, id, c.get("actor"), claim, c.get("tokenCheck"));
    // The answer is the lease as the release left it, before its teardown starts: from the state
    // the release appended when that shows the same as the row (recentReleasedLease), else the row.
    const released = await recentReleasedLease(drydock.store, id, before);
    if (claim) drydock.worker.runClaimedStepsSoon({ ...claim, streamId: streamIdOf("lease", id) });
    return c.json(released ?? (await getLease(db, id)), 200);
  });

  app.openapi(renewLeaseRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { capped } = await renewLease(drydock.commands, id, c.req.valid("json").ttlSeconds, c.get("actor"));
    return c.json({ ...(await getLease(db, id)), capped }, 200);
  });

  app.openapi(leaseEventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const events = await drydock.store.readStream(streamIdOf("lease", id));
    if (events.length === 0) throw new NotFoundError("lease", id);
    return c.json({ items: events.map(eventJsonOf) }, 200);
  });

  registerLeaseExplainRoute(app, drydock);
}

function isOn(flag: "0" | "1" | "true" | "false" | undefined): boolean {
  return flag === "1" || flag === "true";
}

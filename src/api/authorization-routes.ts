import { z } from "@hono/zod-openapi";
import { approveAuthorization, declineAuthorization, requestAuthorization, revokeAuthorization } from "../auth/authorization-commands";
import { getAuthorization, listAuthorizations } from "../auth/authorization-queries";
import { isAdmin } from "../auth/principal";
import { ForbiddenError, NotFoundError } from "../domain/errors";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { cursorQuery, idParams, idString, limitQuery, plainText, splitList, statusListQuery } from "./params";
import { errorResponses } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

/**
 * Blueprint authorizations: a client asks to use a blueprint, an admin approves, declines or
 * revokes. Every step is an event with its actor. Clients see and ask only for themselves;
 * deciding is for admins (the access policy refuses clients there).
 */

const STATES = ["requested", "approved", "declined", "revoked"] as const;

const AuthorizationSchema = z
  .object({
    id: z.string().openapi({ example: "au_0k3v9x8m2q4r7s0t3v5w8y1z" }),
    blueprintId: z.string(),
    client: z.string().openapi({ description: "A client name, or blueprint:<id> for a blueprint that leases from this one.", example: "ci" }),
    state: z.enum(STATES),
    reason: z.string().nullable(),
    requestedBy: z.string(),
    requestedAt: z.string().openapi({ format: "date-time" }),
    decidedBy: z.string().nullable(),
    decidedAt: z.string().nullable().openapi({ format: "date-time" }),
    version: z.number().int(),
  })
  .openapi("Authorization");

const authorizationJson = (description: string) => ({ description, content: { "application/json": { schema: AuthorizationSchema } } });
const optionalBody = <T extends z.ZodType>(schema: T) => ({ required: false, content: { "application/json": { schema } } });

export const requestRoute = defineRoute({
  access: rules.any,
  method: "post",
  path: "/v1/blueprints/{id}/authorizations",
  summary: "Ask to use a blueprint",
  description: "A client asks for itself (`client` omitted or its own name); an admin may ask for any client, or for `blueprint:<id>`. Asking again changes nothing.",
  request: {
    params: idParams,
    body: optionalBody(z.strictObject({ client: z.string().min(1).max(80).optional() }).openapi("AuthorizationRequest")),
  },
  responses: {
    201: authorizationJson("Requested"),
    200: authorizationJson("It existed already, as it is"),
    ...errorResponses(400, 401, 403, 404),
  },
});

export const listRoute = defineRoute({
  access: rules.any,
  method: "get",
  path: "/v1/authorizations",
  summary: "List authorizations (a client sees its own)",
  request: { query: z.object({ client: z.string().max(80).optional(), blueprintId: idString.optional(), state: statusListQuery(STATES), cursor: cursorQuery, limit: limitQuery }) },
  responses: {
    200: { description: "A page of authorizations", content: { "application/json": { schema: z.object({ items: z.array(AuthorizationSchema), nextCursor: z.string().nullable() }).openapi("AuthorizationPage") } } },
    ...errorResponses(400, 401),
  },
});

export const getRoute = defineRoute({
  access: rules.any,
  method: "get",
  path: "/v1/authorizations/{id}",
  summary: "Get an authorization (a client sees its own)",
  request: { params: idParams },
  responses: { 200: authorizationJson("The authorization"), ...errorResponses(401, 404) },
});

export const approveRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/authorizations/{id}/approve",
  summary: "Approve (admin): the allocator may use the blueprint for the client",
  request: { params: idParams },
  responses: { 200: authorizationJson("The authorization, approved"), ...errorResponses(401, 403, 404, 409) },
});

export const declineRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/authorizations/{id}/decline",
  summary: "Decline (admin)",
  request: { params: idParams, body: optionalBody(z.strictObject({ reason: plainText(500).optional() }).openapi("AuthorizationDecline")) },
  responses: { 200: authorizationJson("The authorization, declined"), ...errorResponses(400, 401, 403, 404, 409) },
});
export const revokeRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/authorizations/{id}/revoke",
  summary: "Revoke (admin): no new leases; with releaseLeases, the client's live leases on the blueprint are released",
  request: {
    params: idParams,
    body: optionalBody(z.strictObject({ reason: plainText(500).optional(), releaseLeases: z.boolean().optional() }).openapi("AuthorizationRevocation")),
  },
  responses: {
    200: {
      description: "The authorization, revoked, and the leases released",
      content: { "application/json": { schema: AuthorizationSchema.extend({ releasedLeaseIds: z.array(z.string()) }).openapi("RevokedAuthorization") } },
    },
    ...errorResponses(400, 401, 403, 404, 409),
  },
});

export function registerAuthorizationRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;

  app.openapi(requestRoute, async (c) => {
    const { id } = c.req.valid("param");
    const principal = c.get("principal");
    const asked = c.req.valid("json").client;
    if (!isAdmin(principal) && asked !== undefined && asked !== principal.owner) {
      throw new ForbiddenError("a client may ask for authorizations only for itself", { field: "client" });
    }
    const { authorizationId, created } = await requestAuthorization(drydock.commands, id, asked ?? principal.owner, c.get("actor"));
    return c.json(await getAuthorization(db, authorizationId), created ? 201 : 200);
  });

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid("query");
    const principal = c.get("principal");
    if (!isAdmin(principal) && q.client !== undefined && q.client !== principal.owner) return c.json({ items: [], nextCursor: null }, 200);
    const client = isAdmin(principal) ? q.client : principal.owner;
    return c.json(await listAuthorizations(db, { ...q, client, state: splitList(q.state) }), 200);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const principal = c.get("principal");
    const found = await getAuthorization(db, id);
    if (!isAdmin(principal) && found.client !== principal.owner) throw new NotFoundError("authorization", id);
    return c.json(found, 200);
  });

  app.openapi(approveRoute, async (c) => {
    const { id } = c.req.valid("param");
    await approveAuthorization(drydock.commands, id, c.get("actor"));
    return c.json(await getAuthorization(db, id), 200);
  });

  app.openapi(declineRoute, async (c) => {
    const { id } = c.req.valid("param");
    await declineAuthorization(drydock.commands, id, c.req.valid("json").reason ?? null, c.get("actor"));
    return c.json(await getAuthorization(db, id), 200);
  });

  app.openapi(revokeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { reason, releaseLeases } = c.req.valid("json");
    const { releasedLeaseIds } = await revokeAuthorization(drydock.commands, id, { reason: reason ?? null, releaseLeases: releaseLeases ?? false }, c.get("actor"));
    return c.json({ ...(await getAuthorization(db, id)), releasedLeaseIds }, 200);
  });
}

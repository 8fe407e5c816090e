import { z } from "@hono/zod-openapi";
import { issueToken, MAX_TOKEN_SECONDS, revokeToken } from "../auth/token-commands";
import { MAX_TTL_SECONDS } from "../domain/lease-ttl";
import { leaseQuotaSchema } from "../domain/lease-quota";
import { getToken, listTokens } from "../auth/token-queries";
import { changeTokenQuota } from "../auth/token-quota";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { cursorQuery, idParams, limitQuery, ownerString, plainText, splitList, statusListQuery } from "./params";
import { errorResponses } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

/** Tokens, for admins (the access policy refuses clients): issue, list, revoke. */

// Built from this module's `z` (events/token-events.ts has the same enum): only schemas made with
// @hono/zod-openapi's `z` have `.openapi()`, whatever order the modules are loaded in.
const tokenRoleSchema = z.enum(["admin", "client", "metrics"]);

export const TokenSchema = z
  .object({
    id: z.string().openapi({ example: "tk_01jc9x8m2q4r7s0t3v5w8y1z" }),
    owner: z.string().openapi({ example: "ci" }),
    role: tokenRoleSchema,
    status: z.enum(["active", "revoked", "expired"]).openapi({ description: "expired: past its expiresAt, refused like a revoked one." }),
    expiresAt: z.string().nullable().openapi({ format: "date-time", description: "When it stops working by itself; null: when it is revoked." }),
    issuedBy: z.string(),
    issuedAt: z.string().openapi({ format: "date-time" }),
    revokedBy: z.string().nullable(),
    revokedAt: z.string().nullable().openapi({ format: "date-time" }),
    defaultLeaseTtlSeconds: z.number().int().nullable().openapi({ description: "TTL of the leases it asks for without naming one; null: the blueprint's or the service's default." }),
    leaseQuota: leaseQuotaSchema.nullable().openapi({ description: "Live leases its owner may hold at once when asking with it; null: no quota." }),
  })
  .openapi("Token");

const IssuedSchema = TokenSchema.extend({
  token: z.string().openapi({ description: "The bearer token. Shown this once: only its hash is stored.", example: "ddk_…" }),
}).openapi("IssuedToken");

const IssueSchema = z
  .strictObject({
    owner: z.string().min(1).max(64).openapi({ description: "The name the token acts as; it owns the leases the token asks for. A name belongs to one role.", example: "ci" }),
    role: tokenRoleSchema.openapi({ description: "admin: everything; client: its own leases, on blueprints it is authorized for; metrics: only GET /metrics." }),
    defaultLeaseTtlSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_TTL_SECONDS)
      .optional()
      .openapi({ description: "TTL of the leases this token asks for without naming one (before the blueprint's and the service's defaults).", example: 7200 }),
    expiresInSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_TOKEN_SECONDS)
      .optional()
      .openapi({ description: "The token stops working this long after it is issued (every request and open event stream is refused from then on); absent: it works until revoked.", example: 86400 }),
    leaseQuota: leaseQuotaSchema.optional().openapi({
      description: "Live leases (acquired or active) its owner may hold at once when asking with this token: `maxLiveLeases` of every type, `byResourceType` per type. A lease over it waits (reason `quota: …`), and takes nothing from other clients' leases in the queue.",
      example: { maxLiveLeases: 10, byResourceType: { host: 4 } },
    }),
  })
  .openapi("TokenRequest");

export const issueRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/tokens",
  summary: "Issue a token (admin)",
  description: "An owner name belongs to one role: a name that already names tokens of the other role (active or revoked) is refused with 409 (`name_taken`, field `owner`).",
  request: { body: { required: true, content: { "application/json": { schema: IssueSchema } } } },
  responses: {
    201: { description: "The token, with its secret shown once", content: { "application/json": { schema: IssuedSchema } } },
    ...errorResponses(400, 401, 403, 409, 413),
  },
});

export const listRoute = defineRoute({
  access: rules.admin,
  method: "get",
  path: "/v1/tokens",
  summary: "List tokens, newest first (admin); never their secrets",
  request: { query: z.object({ owner: ownerString.optional(), status: statusListQuery(["active", "revoked"]), cursor: cursorQuery, limit: limitQuery }) },
  responses: {
    200: { description: "A page of tokens", content: { "application/json": { schema: z.object({ items: z.array(TokenSchema), nextCursor: z.string().nullable() }).openapi("TokenPage") } } },
    ...errorResponses(400, 401, 403),
  },
});

export const revokeRoute = defineRoute({
  access: rules.admin,
  method: "delete",
  path: "/v1/tokens/{id}",
  summary: "Revoke a token (admin): refused from its next request on",
  request: {
    params: idParams,
    body: { required: false, content: { "application/json": { schema: z.strictObject({ reason: plainText(500).optional() }).openapi("TokenRevocation") } } },
  },
  responses: { 200: { description: "The token, revoked", content: { "application/json": { schema: TokenSchema } } }, ...errorResponses(401, 403, 404, 409) },
});

const QuotaChangeSchema = z
  .strictObject({
    leaseQuota: leaseQuotaSchema.nullable().openapi({
      description: "The new quota (as at issue), or null for none. Leases the token asks for from now on carry it, and so do its leases still waiting, which look again at once.",
      example: { maxLiveLeases: 20, byResourceType: { host: 8 } },
    }),
  })
  .openapi("TokenQuotaChange");

export const changeQuotaRoute = defineRoute({
  access: rules.admin,
  method: "patch",
  path: "/v1/tokens/{id}",
  summary: "Change a token's lease quota (admin)",
  description: "Appends TokenQuotaChanged, and LeaseQuotaChanged on each lease the token asked for that still waits, in one transaction. Live leases are never taken back: a lower quota makes the owner's next leases wait.",
  request: { params: idParams, body: { required: true, content: { "application/json": { schema: QuotaChangeSchema } } } },
  responses: {
    200: {
      description: "The token, with the waiting leases that now carry the new quota",
      content: { "application/json": { schema: TokenSchema.extend({ leasesChanged: z.array(z.string()).openapi({ description: "Ids of the waiting leases whose quota changed." }) }).openapi("TokenQuotaChanged") } },
    },
    ...errorResponses(400, 401, 403, 404, 409, 413),
  },
});

export function registerTokenRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;

  app.openapi(issueRoute, async (c) => {
    const issued = await issueToken(drydock.commands, c.req.valid("json"), c.get("actor"));
    return c.json({ ...(await getToken(db, issued.tokenId, drydock.clock.now())), token: issued.token }, 201);
  });

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid("query");
    return c.json(await listTokens(db, { ...q, status: splitList(q.status) }, drydock.clock.now()), 200);
  });

  app.openapi(changeQuotaRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { leasesChanged } = await changeTokenQuota(drydock.commands, id, c.req.valid("json").leaseQuota, c.get("actor"));
    return c.json({ ...(await getToken(db, id, drydock.clock.now())), leasesChanged }, 200);
  });

  app.openapi(revokeRoute, async (c) => {
    const { id } = c.req.valid("param");
    await revokeToken(drydock.commands, id, c.req.valid("json").reason ?? null, c.get("actor"));
    return c.json(await getToken(db, id, drydock.clock.now()), 200);
  });
}

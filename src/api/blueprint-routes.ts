import { z } from "@hono/zod-openapi";
import { streamIdOf } from "../../events/envelope";
import { clientOf } from "../auth/scope";
import { createBlueprint, setBlueprintEnabled, updateBlueprint } from "../commands/blueprint-commands";
import { NotFoundError } from "../domain/errors";
import { getBlueprint, listBlueprints } from "../queries/blueprint-queries";
import type { Drydock } from "../service/drydock";
import type { ApiApp } from "./api-env";
import { cursorQuery, idParams, jsonRecord, limitQuery, plainText, resourceTypeString } from "./params";
import { BlueprintPageSchema, BlueprintSchema, errorResponses, eventJsonOf, EventListSchema } from "./schemas";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";
import { MAX_LEASE_CAP_SECONDS } from "../domain/lease-ttl";
import { MAX_MIN_READY, MAX_POOL_SECONDS } from "../domain/pool-policy";

const name = plainText(100).min(1).openapi({ example: "build-hosts" });
const resourceLimit = z.number().int().min(1).max(1_000_000).nullable().openapi({ description: "null: no limit" });
const maxLeaseSeconds = z
  .number()
  .int()
  .min(1)
  .max(MAX_LEASE_CAP_SECONDS)
  .nullable()
  .openapi({ description: "The cap on a lease's life: no lease of this blueprint expires later than its request time plus this, however it is renewed (Vault's max TTL). null: no cap." });
/** The pool policy (src/domain/pool-policy.ts): each null or omitted for none. */
const poolPolicy = {
  minReady: z.number().int().min(0).max(MAX_MIN_READY).nullable().optional().openapi({ description: "Keep this many resources ready (booting, or active with a free slot), within the resource limit; refilled as leases take them. 0 or null: no warm pool." }),
  maxLeasesPerResource: z.number().int().min(1).max(1_000_000).nullable().optional().openapi({ description: "A resource that has served this many leases takes no new one and is released once its last lease ends. null: no limit." }),
  maxAgeSeconds: z.number().int().min(1).max(MAX_POOL_SECONDS).nullable().optional().openapi({ description: "A resource active this long takes no new lease and is released once its last lease ends. null: no limit." }),
  idleDestroySeconds: z.number().int().min(1).max(MAX_POOL_SECONDS).nullable().optional().openapi({ description: "An active resource with no lease this long is released, but never below minReady. null: kept." }),
};
const config = jsonRecord(64).openapi({ description: "Per kind; holds references to secrets, never secrets." });

const CreateSchema = z
  .strictObject({
    name,
    kind: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9-]*$/, "not a blueprint kind").openapi({ example: "local-host" }),
    config: config.optional(),
    resourceLimit: resourceLimit.optional().openapi({ description: "Omitted: the kind's default; null: no limit" }),
    maxLeaseSeconds: maxLeaseSeconds.optional(),
    ...poolPolicy,
  })
  .openapi("BlueprintDraft");

const ChangeSchema = z
  .strictObject({ name: name.optional(), config: config.optional(), resourceLimit: resourceLimit.optional(), maxLeaseSeconds: maxLeaseSeconds.optional(), ...poolPolicy })
  .refine((change) => Object.values(change).some((v) => v !== undefined), { message: "nothing to change" })
  .openapi("BlueprintChange");

const ReasonSchema = z.strictObject({ reason: plainText(500).optional() }).openapi("BlueprintDisable");

const blueprintJson = (description: string) => ({ description, content: { "application/json": { schema: BlueprintSchema } } });
const jsonBody = <T extends z.ZodType>(schema: T, required: boolean) => ({ required, content: { "application/json": { schema } } });

export const createRouteDef = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/blueprints",
  summary: "Create a blueprint",
  description: "Names are unique: a name another blueprint has is refused with 409 (`name_taken`, field `name`), also when two requests race for it.",
  request: { body: jsonBody(CreateSchema, true) },
  responses: { 201: blueprintJson("The blueprint"), ...errorResponses(400, 409, 413) },
});

export const listRoute = defineRoute({
  access: rules.any,
  method: "get",
  path: "/v1/blueprints",
  summary: "List blueprints, newest first",
  request: { query: z.object({ resourceType: resourceTypeString.optional(), cursor: cursorQuery, limit: limitQuery }) },
  responses: { 200: { description: "A page of blueprints", content: { "application/json": { schema: BlueprintPageSchema } } }, ...errorResponses(400) },
});

export const getRoute = defineRoute({
  access: rules.blueprint("id"),
  method: "get",
  path: "/v1/blueprints/{id}",
  summary: "Get a blueprint",
  request: { params: idParams },
  responses: { 200: blueprintJson("The blueprint"), ...errorResponses(404) },
});

export const patchRoute = defineRoute({
  access: rules.admin,
  method: "patch",
  path: "/v1/blueprints/{id}",
  summary: "Change a blueprint's name, config, resource limit or policies",
  request: { params: idParams, body: jsonBody(ChangeSchema, true) },
  responses: { 200: blueprintJson("The blueprint, changed"), ...errorResponses(400, 404, 409) },
});

export const disableRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/blueprints/{id}/disable",
  summary: "Disable a blueprint: no new resources are built from it",
  request: { params: idParams, body: jsonBody(ReasonSchema, false) },
  responses: { 200: blueprintJson("The blueprint, disabled"), ...errorResponses(400, 404, 409) },
});

export const enableRoute = defineRoute({
  access: rules.admin,
  method: "post",
  path: "/v1/blueprints/{id}/enable",
  summary: "Enable a disabled blueprint",
  request: { params: idParams },
  responses: { 200: blueprintJson("The blueprint, enabled"), ...errorResponses(404, 409) },
});

const eventsRoute = defineRoute({
  access: rules.admin,
  method: "get",
  path: "/v1/blueprints/{id}/events",
  summary: "The blueprint's events, in order",
  request: { params: idParams },
  responses: { 200: { description: "The blueprint stream", content: { "application/json": { schema: EventListSchema } } }, ...errorResponses(404) },
});

export function registerBlueprintRoutes(app: ApiApp, drydock: Drydock): void {
  const db = drydock.database.db;

  app.openapi(createRouteDef, async (c) => {
    const id = await createBlueprint(drydock.commands, c.req.valid("json"), c.get("actor"));
    return c.json(await getBlueprint(db, id), 201);
  });

  // A client lists the blueprints it is authorized to use (and reads one only then: access policy).
  app.openapi(listRoute, async (c) => c.json(await listBlueprints(db, { ...c.req.valid("query"), authorizedFor: clientOf(c.get("principal")) }), 200));

  app.openapi(getRoute, async (c) => c.json(await getBlueprint(db, c.req.valid("param").id), 200));

  app.openapi(patchRoute, async (c) => {
    const { id } = c.req.valid("param");
    await updateBlueprint(drydock.commands, id, c.req.valid("json"), c.get("actor"));
    return c.json(await getBlueprint(db, id), 200);
  });

  app.openapi(disableRoute, async (c) => {
    const { id } = c.req.valid("param");
    await setBlueprintEnabled(drydock.commands, id, false, c.req.valid("json").reason ?? null, c.get("actor"));
    return c.json(await getBlueprint(db, id), 200);
  });

  app.openapi(enableRoute, async (c) => {
    const { id } = c.req.valid("param");
    await setBlueprintEnabled(drydock.commands, id, true, null, c.get("actor"));
    return c.json(await getBlueprint(db, id), 200);
  });

  app.openapi(eventsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const events = await drydock.store.readStream(streamIdOf("blueprint", id));
    if (events.length === 0) throw new NotFoundError("blueprint", id);
    return c.json({ items: events.map(eventJsonOf) }, 200);
  });
}

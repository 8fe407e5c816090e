import { streamIdOf } from "../../events/envelope";
import { commandOnStream, type Actor, type CommandContext } from "../commands/command-context";
import { NotFoundError, TransitionRefusedError, ValidationError, VersionConflictError } from "../domain/errors";
import { authorizationFolder, leaseFolder } from "../machines/fold";
import { authorizationIdOf } from "./authorization-id";
import { authorizingObjectPattern, blueprintOfAuthorizingObject } from "./principal";

async function assertBlueprint(ctx: CommandContext, blueprintId: string, notFound: () => Error): Promise<void> {
  const row = await ctx.db.selectFrom("blueprints").select("blueprint_id").where("blueprint_id", "=", blueprintId).executeTakeFirst();
  if (!row) throw notFound();
}

/**
 * A client (or, by an admin, a blueprint as `blueprint:<id>`) asks to use a blueprint. Asking
 * again changes nothing: a pending request stays pending and a decision stays as the admin left
 * it. Returns the authorization's id and whether this call created it.
 */
export async function requestAuthorization(ctx: CommandContext, blueprintId: string, client: string, actor: Actor): Promise<{ authorizationId: string; created: boolean }> {
  if (!authorizingObjectPattern.test(client)) throw new ValidationError("client: a client name or blueprint:<id>", { field: "client" });
  await assertBlueprint(ctx, blueprintId, () => new NotFoundError("blueprint", blueprintId));
  const clientBlueprint = blueprintOfAuthorizingObject(client);
  if (clientBlueprint !== null) {
    await assertBlueprint(ctx, clientBlueprint, () => new ValidationError(`client: blueprint ${clientBlueprint} does not exist`, { field: "client" }));
  }
  const authorizationId = authorizationIdOf(blueprintId, client);
  const streamId = streamIdOf("authorization", authorizationId);
  if ((await ctx.store.readStream(streamId)).length > 0) return { authorizationId, created: false };
  try {
    await ctx.store.append(streamId, 0, [{ type: "AuthorizationRequested", data: { authorizationId, blueprintId, client } }], actor);
    return { authorizationId, created: true };
  } catch (error) {
    // Someone asked for the same pair at the same moment: theirs is the request.
    if (error instanceof VersionConflictError) return { authorizationId, created: false };
    throw error;
  }
}

export function approveAuthorization(ctx: CommandContext, authorizationId: string, actor: Actor) {
  return onAuthorization(ctx, authorizationId, "approve", () => [{ type: "AuthorizationApproved", data: {} }], actor);
}

export function declineAuthorization(ctx: CommandContext, authorizationId: string, reason: string | null, actor: Actor) {
  return onAuthorization(ctx, authorizationId, "decline", () => [{ type: "AuthorizationDeclined", data: { reason } }], actor);
}

/**
 * Revokes an approved authorization: the allocator stops using the blueprint for the client at
 * once (its pending leases wait). With `releaseLeases`, the client's live leases on the blueprint
 * are released too, each caused by the revocation; one that ends meanwhile is skipped.
 */
export async function revokeAuthorization(
  ctx: CommandContext,
  authorizationId: string,
  options: { reason: string | null; releaseLeases: boolean },
  actor: Actor,
): Promise<{ releasedLeaseIds: string[] }> {
  const { state, events } = await onAuthorization(
    ctx,
    authorizationId,
    "revoke",
    () => [{ type: "AuthorizationRevoked", data: { reason: options.reason, releaseLeases: options.releaseLeases } }],
    actor,
  );
  if (!options.releaseLeases) return { releasedLeaseIds: [] };
  const { blueprintId, client } = state.context;
  const released: string[] = [];
  const cause = { ...actor, causationId: events[0]!.eventId };
  for (const leaseId of await liveLeasesOf(ctx, blueprintId, client)) {
    try {
      await commandOnStream(
        ctx,
        leaseFolder,
        "lease",
        streamIdOf("lease", leaseId),
        leaseId,
        "release",
        () => [{ type: "LeaseReleased", data: { reason: "requested", detail: `authorization ${authorizationId} of ${client} on ${blueprintId} revoked` } }],
        cause,
      );
      released.push(leaseId);
    } catch (error) {
      if (!(error instanceof TransitionRefusedError)) throw error;
    }
  }
  return { releasedLeaseIds: released };
}

function onAuthorization(ctx: CommandContext, authorizationId: string, command: string, decide: Parameters<typeof commandOnStream>[6], actor: Actor) {
  return commandOnStream(ctx, authorizationFolder, "authorization", streamIdOf("authorization", authorizationId), authorizationId, command, decide, actor);
}

/**
 * Leases acquired or active on the blueprint's resources that the client's authorization let in:
 * those asked for under it (their authorizing object is the client, or `blueprint:<id>` for the
 * leases that blueprint's resources hold). Not by owner name: an admin's lease has no authorizing
 * object, so revoking a client's authorization never releases it, whatever the names.
 */
async function liveLeasesOf(ctx: CommandContext, blueprintId: string, client: string): Promise<string[]> {
  const rows = await ctx.db
    .selectFrom("leases")
    .select("lease_id")
    .where("blueprint_id", "=", blueprintId)
    .where("authorizing_object", "=", client)
    .where("status", "in", ["acquired", "active"])
    .orderBy("lease_id")
    .execute();
  return rows.map((r) => r.lease_id);
}

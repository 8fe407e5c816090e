import { streamIdOf } from "../../../events/envelope";
import { blueprintViewOf, leaseViewOfState, loadResourceView } from "../../blueprints/blueprint-views";
import type { LeaseState } from "../../machines/fold";
import type { StreamAppend } from "../../store/event-store";
import { workerMetadata, type WorkerContext } from "../worker-context";

/**
 * A released or broken lease is cleaned up (its working directory removed) and destroyed. If a
 * resource held it, that resource cannot work without it: it breaks, in the same transaction.
 */
export async function destroyLease(ctx: WorkerContext, lease: LeaseState): Promise<void> {
  const c = lease.context;
  let cleanupError: string | null = null;
  if (c.resourceId) {
    const resource = await ctx.db.selectFrom("resources").selectAll().where("resource_id", "=", c.resourceId).executeTakeFirst();
    if (resource && resource.status !== "destroyed") {
      const blueprint = await ctx.db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
      try {
        await ctx.registry.get(blueprint.kind).destroyLease(blueprintViewOf(blueprint, ctx.registry), await loadResourceView(ctx.db, resource), leaseViewOfState(lease), ctx.effects);
      } catch (error) {
        cleanupError = error instanceof Error ? error.message : String(error);
      }
    }
  }
  const appends: StreamAppend[] = [{ streamId: streamIdOf("lease", c.leaseId), expectedVersion: lease.version, events: [{ type: "LeaseDestroyed", data: { cleanupError } }] }];
  if (c.ownerResourceId) {
    const owner = await ctx.db.selectFrom("resources").select(["status", "version"]).where("resource_id", "=", c.ownerResourceId).executeTakeFirst();
    if (owner && (owner.status === "pending" || owner.status === "active")) {
      appends.push({
        streamId: streamIdOf("resource", c.ownerResourceId),
        expectedVersion: owner.version,
        events: [{ type: "ResourceBroken", data: { reason: `its lease ${c.leaseId} ended: ${c.endReason ?? lease.status}`, error: null } }],
      });
    }
  }
  await ctx.store.appendMany(appends, workerMetadata(ctx, c.leaseId));
}

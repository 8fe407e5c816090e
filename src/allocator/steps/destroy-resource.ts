import { streamIdOf } from "../../../events/envelope";
import { blueprintViewOf, loadResourceView } from "../../blueprints/blueprint-views";
import { VersionConflictError } from "../../domain/errors";
import type { ResourceState } from "../../machines/fold";
import { workerMetadata, type WorkerContext } from "../worker-context";
import { isHoldActive } from "../../domain/resource-hold";
import { loadLease, loadResource } from "./load-state";
import { reacquireOrBreak } from "./reacquire";
import { deferredBecause, failureHoldEvent, holdOf } from "./resource-hold-steps";

/**
 * A released or broken resource: its leases are let go first, then the blueprint tears it down,
 * then the leases it held are released. Drydock left active leases on a dead resource; we do not.
 * - Acquired leases go back to pending and land elsewhere.
 * - Active ones are released with the reason; except on a broken resource of a blueprint whose
 *   leases move (`leasesMoveWhenBroken`: working copies), where they go back to pending too.
 *   A copy breaks when its host dies, and its leases want the same commit on another host.
 *
 * Holds (src/domain/resource-hold.ts): a broken resource with an active lease that asked for
 * `holdOnFailure` goes on hold as that lease is let go (one append: the lease's release and the
 * hold). A resource on hold has its leases let go all the same, then the step records that the
 * teardown waits (ResourceDestroyDeferred) and stops; the work queue runs it again when the hold
 * ends.
 */
export async function destroyResource(ctx: WorkerContext, start: ResourceState): Promise<void> {
  let resource = start;
  const c = resource.context;
  const meta = workerMetadata(ctx, c.forLeaseId ?? c.resourceId);
  const why = `resource ${c.resourceId} ${resource.status}${c.endReason ? `: ${c.endReason}` : ""}`;

  const blueprint = await ctx.db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", c.blueprintId).executeTakeFirstOrThrow();
  const impl = ctx.registry.get(blueprint.kind);
  const activeLeasesMove = resource.status === "broken" && impl.leasesMoveWhenBroken === true;

  const onIt = await ctx.db.selectFrom("leases").select("lease_id").where("resource_id", "=", c.resourceId).where("status", "in", ["acquired", "active"]).execute();
  for (const row of onIt) {
    const lease = await loadLease(ctx, row.lease_id);
    if (lease.status !== "acquired" && lease.status !== "active") continue;
    const moves = lease.status === "acquired" || activeLeasesMove;
    const leaseAppend = {
      streamId: streamIdOf("lease", row.lease_id),
      expectedVersion: lease.version,
      events: moves ? [reacquireOrBreak(lease, c.resourceId, why)] : [{ type: "LeaseReleased", data: { reason: "resource-ended", detail: why } }],
    };
    // Only a resource that broke under an active lease counts as that lease's failure.
    const hold = resource.status === "broken" && lease.status === "active" ? failureHoldEvent(resource, lease, `resource ${c.endReason ?? "broken"}`, ctx.clock.now()) : null;
    if (hold) {
      await ignoreConflict(ctx.store.appendMany([leaseAppend, { streamId: streamIdOf("resource", c.resourceId), expectedVersion: resource.version, events: [hold] }], meta));
      resource = await loadResource(ctx, c.resourceId);
    } else {
      await ignoreConflict(ctx.store.append(leaseAppend.streamId, leaseAppend.expectedVersion, leaseAppend.events, meta));
    }
  }

  const hold = holdOf(resource);
  if (hold && isHoldActive(hold, ctx.clock.now())) {
    if (!resource.context.destroyDeferred) {
      await ctx.store.append(streamIdOf("resource", c.resourceId), resource.version, [{ type: "ResourceDestroyDeferred", data: { reason: deferredBecause(hold) } }], meta);
    }
    return;
  }

  const row = await ctx.db.selectFrom("resources").selectAll().where("resource_id", "=", c.resourceId).executeTakeFirstOrThrow();
  // A failed teardown throws: the worker tries the step again, waiting twice as long after each
  // failure in a row (up to its maximum), and the work item keeps the count and the error that the
  // resource shows as `failingStep` (worker.ts). It never gives up: the instance must still go.
  await impl.destroyResource(blueprintViewOf(blueprint, ctx.registry), await loadResourceView(ctx.db, row), ctx.effects);
  await ctx.store.append(streamIdOf("resource", c.resourceId), resource.version, [{ type: "ResourceDestroyed", data: {} }], meta);

  const held = await ctx.db.selectFrom("leases").select(["lease_id", "version"]).where("owner_resource_id", "=", c.resourceId).where("status", "in", ["pending", "acquired", "active"]).execute();
  for (const lease of held) {
    await ignoreConflict(
      ctx.store.append(streamIdOf("lease", lease.lease_id), lease.version, [{ type: "LeaseReleased", data: { reason: "owner-ended", detail: why } }], meta),
    );
  }
}

/** The lease moved meanwhile (released by its client, say); its own worker step takes it on. */
async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (!(error instanceof VersionConflictError)) throw error;
  }
}

import { streamIdOf } from "../../../events/envelope";
import { KILLED_COMMAND_CHARS, KILLED_PROCESSES_LISTED, type LeaseEventData } from "../../../events/lease-events";
import { LeaseCleanupError, type LeaseTeardown } from "../../blueprints/blueprint";
import { blueprintViewOf, leaseViewOfState, resourceViewWithLoad } from "../../blueprints/blueprint-views";
import { resourceWithBlueprint } from "../../queries/resource-with-blueprint";
import type { LeaseState } from "../../machines/fold";
import type { StreamAppend } from "../../store/event-store";
import type { TeardownTarget } from "../inline-teardowns";
import { workerMetadata, type WorkerContext } from "../worker-context";

/**
 * A released or broken lease is cleaned up (its working directory removed, the processes it left
 * killed) and destroyed. If a resource held it, that resource cannot work without it: it breaks,
 * in the same transaction. What the cleanup killed goes into LeaseDestroyed, even if the cleanup
 * failed later on.
 */
export async function destroyLease(ctx: WorkerContext, lease: LeaseState): Promise<void> {
  const c = lease.context;
  let cleanupError: string | null = null;
  let teardown: LeaseTeardown | void = undefined;
  if (c.resourceId) {
    // A lease this instance activated inline is taken down by what its activation went by (on
    // the resource it is still on: a lease that went back to pending may have landed elsewhere);
    // any other reads its resource, blueprint and load in one statement.
    const known = ctx.inlineTeardowns?.take(c.leaseId);
    const target = known?.resource.resourceId === c.resourceId ? known : await teardownTargetOf(ctx, c.resourceId);
    if (target) {
      // After any activation of this lease still in flight here: it would make again what this removes.
      const held = await ctx.leaseActivations.hold(c.leaseId);
      try {
        teardown = await ctx.registry.get(target.blueprint.kind).destroyLease(target.blueprint, target.resource, leaseViewOfState(lease), ctx.effects);
      } catch (error) {
        cleanupError = error instanceof Error ? error.message : String(error);
        if (error instanceof LeaseCleanupError) teardown = error.teardown;
      } finally {
        held();
      }
    }
  }
  const appends: StreamAppend[] = [{ streamId: streamIdOf("lease", c.leaseId), expectedVersion: lease.version, events: [{ type: "LeaseDestroyed", data: destroyedData(cleanupError, teardown) }] }];
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

/** The resource and its blueprint as the blueprint's destroyLease takes them; none for a resource destroyed already. */
async function teardownTargetOf(ctx: WorkerContext, resourceId: string): Promise<TeardownTarget | null> {
  const found = await resourceWithBlueprint(ctx.db, resourceId);
  if (!found || found.resource.status === "destroyed") return null;
  const { resource, blueprint, load } = found;
  if (!blueprint) throw new Error(`blueprint ${resource.blueprint_id} of resource ${resource.resource_id} not found`);
  return { blueprint: blueprintViewOf(blueprint, ctx.registry), resource: resourceViewWithLoad(resource, load) };
}

/** The event's data; the list of killed processes bounded as its schema says. */
function destroyedData(cleanupError: string | null, teardown: LeaseTeardown | void): LeaseEventData<"LeaseDestroyed"> {
  const killed = teardown?.killedProcesses;
  if (killed === undefined) return { cleanupError };
  const omitted = Math.max(0, killed.length - KILLED_PROCESSES_LISTED) + (teardown?.killedProcessesOmitted ?? 0);
  return {
    cleanupError,
    killedProcesses: killed.slice(0, KILLED_PROCESSES_LISTED).map((p) => ({ pid: p.pid, command: p.command.slice(0, KILLED_COMMAND_CHARS) })),
    ...(omitted > 0 ? { killedProcessesOmitted: omitted } : {}),
  };
}

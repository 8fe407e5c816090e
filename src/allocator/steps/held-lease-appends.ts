import { streamIdOf } from "../../../events/envelope";
import type { HeldLeaseRequest, ResourcePlan } from "../../blueprints/blueprint";
import { limitSlotKey } from "../slot-keys";
import type { StreamAppend } from "../../store/event-store";
import type { WorkerContext } from "../worker-context";

/** What causes a build: the lease it is built for, or a policy (the warm pool) with its reason. */
export type BuildCause = { forLeaseId: string } | { forLeaseId: null; reason: string };

/**
 * A new resource's ResourceAllocated, whoever causes the build (a lease's allocation, the warm
 * pool): the blueprint's plan, and the blueprint's limit slot it takes (null: no limit).
 */
export function resourceAllocatedAppend(resourceId: string, blueprint: { id: string; resourceType: string }, plan: ResourcePlan, limitSlot: number | null, cause: BuildCause): StreamAppend {
  return {
    streamId: streamIdOf("resource", resourceId),
    expectedVersion: 0,
    events: [
      {
        type: "ResourceAllocated",
        data: {
          resourceId,
          blueprintId: blueprint.id,
          resourceType: blueprint.resourceType,
          attributes: plan.attributes,
          leaseSlots: plan.leaseSlots,
          locks: [...plan.locks, ...(limitSlot === null ? [] : [limitSlotKey(blueprint.id, limitSlot)])],
          ...cause,
        },
      },
    ],
  };
}

/**
 * The leases a new resource holds while it is built (a working copy's host), requested in the
 * append that allocates it, whoever caused the build (a lease's allocation, the warm pool).
 */
export function heldLeaseAppends(ctx: Pick<WorkerContext, "ids">, resourceId: string, blueprintId: string, heldLeases: readonly HeldLeaseRequest[]): StreamAppend[] {
  return heldLeases.map((held): StreamAppend => {
    const heldId = ctx.ids.next("lease");
    return {
      streamId: streamIdOf("lease", heldId),
      expectedVersion: 0,
      events: [
        {
          type: "LeaseRequested",
          data: {
            leaseId: heldId,
            resourceType: held.resourceType,
            attributes: held.attributes,
            blueprintIds: held.blueprintIds,
            owner: `resource:${resourceId}`,
            ownerResourceId: resourceId,
            ttlSeconds: null,
            expiresAt: null,
            // A held lease is the blueprint's doing, whoever caused the build: the blueprint
            // needs its own authorization on the blueprints it leases from.
            authorizingObject: `blueprint:${blueprintId}`,
          },
        },
      ],
    };
  });
}

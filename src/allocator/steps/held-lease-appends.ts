import { streamIdOf } from "../../../events/envelope";
import type { HeldLeaseRequest } from "../../blueprints/blueprint";
import type { StreamAppend } from "../../store/event-store";
import type { WorkerContext } from "../worker-context";

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

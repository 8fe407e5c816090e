import { streamIdOf, type NewEvent } from "../../../events/envelope";
import { describeHold, failureHold, isHoldActive, type ResourceHold } from "../../domain/resource-hold";
import type { LeaseState, ResourceState } from "../../machines/fold";
import { workerMetadata, type WorkerContext } from "../worker-context";

/**
 * The worker's part in holds (src/domain/resource-hold.ts): ending a hold at its time, and the
 * hold a failing lease asked for (`holdOnFailure`). Pure decisions here, the appends by the steps.
 */

/** A hold's end is past: the worker releases it (the work item was due at `until`). True: it did. */
export async function endExpiredHold(ctx: WorkerContext, resource: ResourceState): Promise<boolean> {
  const hold = holdOf(resource);
  if (!hold || hold.until === null || isHoldActive(hold, ctx.clock.now())) return false;
  await ctx.store.append(
    streamIdOf("resource", resource.context.resourceId),
    resource.version,
    [{ type: "ResourceHoldReleased", data: { reason: `expired at ${hold.until}` } }],
    workerMetadata(ctx, resource.context.resourceId),
  );
  return true;
}

/** The resource's hold, also in states stored before holds (no field: none). */
export function holdOf(resource: ResourceState): ResourceHold | null {
  return resource.context.hold ?? null;
}

/**
 * The ResourceHeld a lease's failure on the resource asks for, or null (no holdOnFailure, or the
 * current hold lasts as long already). `failure` is what went wrong, in the hold's reason.
 */
export function failureHoldEvent(resource: ResourceState, lease: LeaseState, failure: string, now: Date): NewEvent | null {
  const hold = failureHold(holdOf(resource), { leaseId: lease.context.leaseId, holdOnFailureSeconds: lease.context.holdOnFailureSeconds ?? null }, failure, now);
  return hold ? { type: "ResourceHeld", data: hold } : null;
}

/** What ResourceDestroyDeferred says: the hold the destroy waits for. */
export function deferredBecause(hold: ResourceHold): string {
  return `destroy waits: ${describeHold(hold)}`;
}

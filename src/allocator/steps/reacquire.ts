import type { NewEvent } from "../../../events/envelope";
import type { LeaseState } from "../../machines/fold";

/**
 * Resources that may die under one acquired lease before it gives up. Drydock had no bound: a
 * lease whose resource always failed to build waited while new ones were built for ever.
 */
export const MAX_REACQUIRES = 3;

/**
 * The lease's resource ended under it (before the lease activated, or while active on a blueprint
 * whose leases move): back to pending, or break if this keeps happening.
 */
export function reacquireOrBreak(lease: LeaseState, resourceId: string, reason: string): NewEvent {
  if (lease.context.reacquires + 1 >= MAX_REACQUIRES) {
    const when = lease.status === "active" ? "" : " before it activated";
    return {
      type: "LeaseBroken",
      data: { reason: `${MAX_REACQUIRES} resources ended under this lease${when}; the last: ${reason}`, error: null },
    };
  }
  return { type: "LeaseReacquiring", data: { resourceId, reason } };
}

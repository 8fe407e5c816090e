import { CapacityConflictError } from "../domain/errors";
import { freeNumber, type AllocationView } from "./decide-allocation";
import { quotaOfTypePrefix, quotaPrefix } from "./slot-keys";

/**
 * The quota numbers a lease takes with its acquisition (src/allocator/slot-keys.ts): a free number
 * of its owner's below each limit of the quota it carries, from the view it was decided on (which
 * one: the view's slotOffset).
 * A lease within its quota always finds one: the owner's taken numbers are at most its live
 * leases, fewer than the limit. If the view says otherwise it is stale, and deciding again helps.
 */
export function quotaLocks(view: AllocationView): string[] {
  const q = view.quota;
  if (!q?.taken) return [];
  const owner = view.lease.owner;
  const limits: [string, readonly number[], number | undefined][] = [
    [quotaPrefix(owner), q.taken.all, q.quota.maxLiveLeases],
    [quotaOfTypePrefix(owner, view.lease.resourceType), q.taken.ofType, q.quota.maxLiveLeasesOfType],
  ];
  return limits.flatMap(([prefix, taken, limit]) => {
    if (limit === undefined) return [];
    const n = freeNumber(taken, limit, view.slotOffset ?? 0);
    if (n === null) throw new CapacityConflictError([`${prefix}*`]);
    return [`${prefix}${n}`];
  });
}

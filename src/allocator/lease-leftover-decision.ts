import type { LeaseLeftover } from "../blueprints/blueprint";

/**
 * Which leftovers of leases on a resource the sweep removes. Pure: what the blueprint found on
 * the resource, what the log says of those leases, and the time.
 *
 * A lease's leftovers go when nothing will use them and nothing else will remove them: the lease
 * is destroyed (its teardown ran, and failed to remove them), or the log does not know it (an
 * activation made them and its lease was never stored: the process stopped before the append
 * committed). And only once they have not changed for `graceMs`: a request activating a lease
 * inline makes its directories before the lease is stored, so a lease unknown to the log may be
 * one that is about to be. Every other lease keeps them, pending ones included (acquired again on
 * this resource, its activation uses them), and its own teardown removes them.
 *
 * What is found only in a place every Drydock on the machine shares (a lease's pids cgroup whose
 * directories are gone: a process outlived its teardown's kill rounds) goes only when this log
 * has its lease destroyed on this resource: a lease id this log does not know may be another
 * service's, on another database.
 */
export interface LeaseRecord {
  status: string;
  resourceId: string | null;
}

export interface LeftoverVerdict {
  leaseId: string;
  reason: string;
  changedAt: Date;
}

export interface LeftoverDecision {
  /** Nothing will use or remove them: remove now. */
  remove: LeftoverVerdict[];
  /** Orphaned, but changed within the grace period: looked at again next pass. */
  young: LeftoverVerdict[];
}

export function decideLeaseLeftovers(
  found: readonly LeaseLeftover[],
  leaseOf: (leaseId: string) => LeaseRecord | undefined,
  resourceId: string,
  now: Date,
  graceMs: number,
): LeftoverDecision {
  const remove: LeftoverVerdict[] = [];
  const young: LeftoverVerdict[] = [];
  for (const leftover of found) {
    const lease = leaseOf(leftover.leaseId);
    // Another service on this machine may own what only the machine-wide place holds.
    if (leftover.machineWide && lease?.resourceId !== resourceId) continue;
    const reason = orphanReason(lease);
    if (reason === null) continue;
    const verdict = { leaseId: leftover.leaseId, reason, changedAt: leftover.changedAt };
    if (now.getTime() - leftover.changedAt.getTime() >= graceMs) remove.push(verdict);
    else young.push(verdict);
  }
  return { remove, young };
}

/** Why nothing will use or remove a lease's leftovers, or null when its lease still may. */
export function orphanReason(lease: LeaseRecord | undefined): string | null {
  if (lease === undefined) return "its lease is unknown to the log";
  if (lease.status === "destroyed") return "its lease is destroyed";
  return null;
}

/**
 * Holds on resources (issue #11, point 3). Pure: time comes in as data.
 *
 * A hold keeps a resource as it is so a person can look at it:
 *  - an active (or pending) resource on hold takes no new lease: the allocator skips it with
 *    "on hold: <reason>", and never reclaims it. Leases already on it carry on.
 *  - a released or broken resource on hold is not destroyed: its leases are let go as usual,
 *    then the destroy step records ResourceDestroyDeferred and waits for the hold to end.
 *  - a hold ends when an admin releases it, or by itself at `until` (null: until released): the
 *    work queue schedules the resource's item at `until` (projections/work-schedule.ts), and
 *    the worker appends ResourceHoldReleased. Between `until` and that event the hold no longer
 *    counts (`isHoldActive`), so a late worker never keeps a resource held longer.
 *  - a hold keeps the resource's capacity (its slot locks and its place under the blueprint's
 *    limit) until it is destroyed: that is the price of keeping it.
 *
 * `holdOnFailure: {seconds}` on a lease request asks for a hold when that lease fails on its
 * resource. Failures that count (and only these):
 *  - the lease's own setup on the resource fails for good (LeaseBroken from acquired: the
 *    blueprint's activateLease failed permanently), with the resource still active;
 *  - the resource breaks (ResourceBroken: a health check, a host failure, a broken held lease)
 *    while the lease is active on it; the lease then ends with `resource-ended`.
 * Not counted: a release by the client, an expiry, a resource released (not broken) by an admin
 * or its blueprint, failures before the lease has a resource, and moves of an acquired lease to
 * another resource (it never used the one it left).
 * A failure hold never shortens a hold already there: an admin's hold without an end, or one
 * that ends later, stays as it is.
 */

/** Longest hold a lease may ask for with `holdOnFailure`: 7 days. */
export const MAX_HOLD_ON_FAILURE_SECONDS = 7 * 24 * 3600;
/** Longest hold with an end an admin may ask for (`untilSeconds`); without one it lasts until released. */
export const MAX_HOLD_SECONDS = 30 * 24 * 3600;

export interface ResourceHold {
  reason: string;
  /** ISO time the hold ends by itself; null: until an admin releases it. */
  until: string | null;
  /** Who put it on: the admin's name, or `lease <id>`. */
  by: string;
  /** The lease whose failure asked for it (holdOnFailure), if any. */
  leaseId: string | null;
  /** When it was put on. */
  since: string;
}

/** Whether a hold keeps the resource at `now` (an expired one no longer does, released or not). */
export function isHoldActive(hold: Pick<ResourceHold, "until"> | null | undefined, now: Date): boolean {
  return !!hold && (hold.until === null || new Date(hold.until).getTime() > now.getTime());
}

/** "on hold: <reason> (by X, until T)": the words the allocator and explain use. */
export function describeHold(hold: Pick<ResourceHold, "reason" | "until" | "by">): string {
  return `on hold: ${hold.reason} (by ${hold.by}, ${hold.until ? `until ${hold.until}` : "until released"})`;
}

/**
 * The hold a failed lease asks for, or null when the resource's current hold already lasts as
 * long (or longer): a failure hold extends, never shortens.
 */
export function failureHold(
  current: ResourceHold | null | undefined,
  lease: { leaseId: string; holdOnFailureSeconds: number | null },
  failure: string,
  now: Date,
): { reason: string; until: string; by: string; leaseId: string } | null {
  if (lease.holdOnFailureSeconds === null) return null;
  const until = new Date(now.getTime() + lease.holdOnFailureSeconds * 1000);
  if (current && isHoldActive(current, now) && (current.until === null || new Date(current.until) >= until)) return null;
  return { reason: `lease ${lease.leaseId} failed on it: ${failure}`, until: until.toISOString(), by: `lease ${lease.leaseId}`, leaseId: lease.leaseId };
}

/**
 * A blueprint's pool policy (issue #11, points 1 and 2). Pure: time comes in as data.
 *
 *  - `minReady`: keep that many resources ready, that is pending (booting) or active, with a
 *    free lease slot, not on hold, not suspect and not recycled. The blueprint's work item
 *    (projections/work-schedule.ts) builds the missing ones within the blueprint's limit, each
 *    with a ResourceAllocated whose `reason` names the policy.
 *  - `maxLeasesPerResource`, `maxAgeSeconds` (age counted from its activation): a resource
 *    that reaches either is recycled: it takes no new lease (the allocator skips it with the
 *    reason) and is released once its last lease ends (ResourceReleased with the reason).
 *  - `idleDestroySeconds`: an active resource with no lease for that long is released, but
 *    never so that fewer than `minReady` stay ready.
 * null (or absent, in states recorded before these existed): no such policy. A hold beats them
 * all: a resource on hold is neither recycled nor released as idle while the hold lasts.
 */
export interface PoolPolicy {
  minReady: number | null;
  maxLeasesPerResource: number | null;
  maxAgeSeconds: number | null;
  idleDestroySeconds: number | null;
}

export const POOL_POLICY_FIELDS = ["minReady", "maxLeasesPerResource", "maxAgeSeconds", "idleDestroySeconds"] as const;

export const NO_POOL_POLICY: PoolPolicy = { minReady: null, maxLeasesPerResource: null, maxAgeSeconds: null, idleDestroySeconds: null };

/** The longest age or idle time a policy may name: a year. */
export const MAX_POOL_SECONDS = 365 * 24 * 3600;
/** The largest warm pool one blueprint may ask for (its limit caps it anyway). */
export const MAX_MIN_READY = 1000;

/** Whether any policy is set: only then does the blueprint have a pool work item. */
export function hasPoolPolicy(policy: Partial<PoolPolicy>): boolean {
  return POOL_POLICY_FIELDS.some((field) => (policy[field] ?? 0) > 0);
}

/** What recycling looks at on one resource. */
export interface RecycleInput {
  /** Leases ever acquired on it (the one being decided not included). */
  leasesServed: number;
  /** When it became active; null while pending. */
  activatedAt: Date | null;
}

/**
 * Why the resource takes no new lease because of recycling, or null. The words are the ones
 * the allocator's skip and the final ResourceReleased carry, so explain names the policy.
 */
export function recycleReason(policy: Pick<PoolPolicy, "maxLeasesPerResource" | "maxAgeSeconds">, resource: RecycleInput, now: Date): string | null {
  const maxLeases = policy.maxLeasesPerResource;
  if (maxLeases && resource.leasesServed >= maxLeases) return `recycled: maxLeasesPerResource ${maxLeases} reached`;
  const maxAge = policy.maxAgeSeconds;
  if (maxAge && resource.activatedAt && now.getTime() - resource.activatedAt.getTime() >= maxAge * 1000) {
    return `recycled: maxAgeSeconds ${maxAge} reached (active since ${resource.activatedAt.toISOString()})`;
  }
  return null;
}

/** When the resource reaches its maxAgeSeconds (null: no age limit, or not active yet). */
export function recycleAgeAt(policy: Pick<PoolPolicy, "maxAgeSeconds">, activatedAt: Date | null): Date | null {
  return policy.maxAgeSeconds && activatedAt ? new Date(activatedAt.getTime() + policy.maxAgeSeconds * 1000) : null;
}

/** ResourceReleased's reason for an idle resource the policy destroys. */
export function idleReason(idleMs: number, idleDestroySeconds: number): string {
  return `idle for ${Math.floor(idleMs / 1000)} s (idleDestroySeconds ${idleDestroySeconds})`;
}

/** ResourceAllocated's reason for a resource built for the warm pool. */
export function warmPoolReason(minReady: number, ready: number): string {
  return `warm pool: minReady ${minReady} (${ready} ready)`;
}

/** The policy as its columns hold it (migration 016), for views and the API. */
export function poolPolicyOfRow(row: { min_ready: number | null; max_leases_per_resource: number | null; max_age_seconds: number | null; idle_destroy_seconds: number | null }): PoolPolicy {
  return { minReady: row.min_ready, maxLeasesPerResource: row.max_leases_per_resource, maxAgeSeconds: row.max_age_seconds, idleDestroySeconds: row.idle_destroy_seconds };
}

import { idleReason, recycleAgeAt, recycleReason, warmPoolReason, type PoolPolicy } from "../domain/pool-policy";

/**
 * The pool step's decision for one blueprint (src/domain/pool-policy.ts). Pure: the caller reads
 * the blueprint's live resources and the time, and appends what this returns.
 */
export interface PoolResource {
  resourceId: string;
  status: "pending" | "active";
  leaseSlots: number;
  /** Leases acquired or active on it now. */
  liveLeases: number;
  /** Leases ever acquired on it. */
  leasesServed: number;
  activatedAt: Date | null;
  /** Active with no live lease since then; null otherwise. */
  idleSince: Date | null;
  /** On hold now (an expired hold does not count). */
  held: boolean;
  suspect: boolean;
}

export interface PoolView {
  policy: PoolPolicy;
  enabled: boolean;
  resourceLimit: number | null;
  /** Limit slots held by the blueprint's resources not yet destroyed (released ones too). */
  usedLimitSlots: number;
  resources: readonly PoolResource[];
  now: Date;
  /**
   * A resource the pool built ended before it became active (its build failed, say): the pool
   * builds nothing before this time, so a blueprint that cannot build does not build and break
   * in a loop. null: no such wait.
   */
  buildBlockedUntil?: Date | null;
}

export interface PoolDecision {
  /** Resources to release now, each with the reason its ResourceReleased carries. */
  release: { resourceId: string; reason: string }[];
  /** Resources to build for the warm pool, with the reason their ResourceAllocated carries. */
  build: number;
  buildReason: string;
  /** Ready resources after the releases (as the pool counts them). */
  ready: number;
  /** When the decision may change with no event: a resource's idle or age deadline; null: only an event changes it. */
  nextCheckAt: Date | null;
}

export function decidePool(view: PoolView): PoolDecision {
  const { policy, now } = view;
  const minReady = policy.minReady ?? 0;
  const release: { resourceId: string; reason: string }[] = [];
  const deadlines: number[] = [];
  const ready: PoolResource[] = [];
  for (const r of view.resources) {
    const recycled = recycleReason(policy, r, now);
    const ageAt = recycleAgeAt(policy, r.activatedAt);
    if (!recycled && ageAt) deadlines.push(ageAt.getTime());
    if (r.held) continue;
    if (recycled) {
      // Its last lease has ended (or it never had one): it goes now; else the end of its last lease wakes the pool.
      if (r.status === "active" && r.liveLeases === 0) release.push({ resourceId: r.resourceId, reason: recycled });
      continue;
    }
    if (!r.suspect && r.liveLeases < r.leaseSlots) ready.push(r);
  }

  // Idle ones beyond minReady, the longest idle first; one not due yet is a deadline.
  const idleLimit = policy.idleDestroySeconds;
  let readyCount = ready.length;
  if (idleLimit) {
    const idle = ready.filter((r) => r.status === "active" && r.liveLeases === 0 && r.idleSince !== null).sort((a, b) => a.idleSince!.getTime() - b.idleSince!.getTime() || (a.resourceId < b.resourceId ? -1 : 1));
    for (const r of idle) {
      const idleMs = now.getTime() - r.idleSince!.getTime();
      if (readyCount <= minReady) break;
      if (idleMs >= idleLimit * 1000) {
        release.push({ resourceId: r.resourceId, reason: idleReason(idleMs, idleLimit) });
        readyCount--;
      } else deadlines.push(r.idleSince!.getTime() + idleLimit * 1000);
    }
  }

  // The warm pool: what is missing, within the limit (released resources hold their limit slot until destroyed).
  const missing = Math.max(0, minReady - readyCount);
  const room = view.resourceLimit === null ? missing : Math.max(0, view.resourceLimit - view.usedLimitSlots);
  const blocked = view.buildBlockedUntil && view.buildBlockedUntil.getTime() > now.getTime() ? view.buildBlockedUntil : null;
  const build = view.enabled && !blocked ? Math.min(missing, room) : 0;
  if (blocked && missing > 0) deadlines.push(blocked.getTime());
  return {
    release,
    build,
    buildReason: warmPoolReason(minReady, readyCount),
    ready: readyCount,
    nextCheckAt: deadlines.length === 0 ? null : new Date(Math.min(...deadlines)),
  };
}

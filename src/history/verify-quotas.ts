import type { LeaseContext } from "../machines/lease-machine";

/**
 * The quota rule of verify (pure): no lease is acquired while its owner already holds as many
 * live leases as the quota the lease carries at that moment, of every type or of its type. A
 * quota lowered under live leases takes none back, so only acquisitions are judged. Live leases
 * count whichever token asked for them, as the allocator counts them (src/domain/lease-quota.ts).
 */
export class QuotaCheck {
  private readonly live = new Map<string, { total: number; ofType: Map<string, number> }>();
  private readonly liveLease = new Map<string, { owner: string; resourceType: string }>();

  /** A lease acquired; the violation's message, or null. */
  acquired(leaseStreamId: string, lease: LeaseContext): string | null {
    const counts = this.live.get(lease.owner) ?? { total: 0, ofType: new Map<string, number>() };
    this.live.set(lease.owner, counts);
    const ofType = counts.ofType.get(lease.resourceType) ?? 0;
    const problem = overQuota(lease, counts.total, ofType);
    counts.total++;
    counts.ofType.set(lease.resourceType, ofType + 1);
    this.liveLease.set(leaseStreamId, { owner: lease.owner, resourceType: lease.resourceType });
    return problem;
  }

  /** A live lease ended or went back to pending. */
  ended(leaseStreamId: string): void {
    const lease = this.liveLease.get(leaseStreamId);
    if (!lease) return;
    this.liveLease.delete(leaseStreamId);
    const counts = this.live.get(lease.owner)!;
    counts.total--;
    counts.ofType.set(lease.resourceType, (counts.ofType.get(lease.resourceType) ?? 1) - 1);
  }
}

function overQuota(lease: LeaseContext, total: number, ofType: number): string | null {
  const q = lease.quota;
  if (!q) return null;
  if (q.maxLiveLeasesOfType !== undefined && ofType >= q.maxLiveLeasesOfType) {
    return `${lease.owner} already held ${ofType} live ${lease.resourceType} leases, its quota ${q.maxLiveLeasesOfType}`;
  }
  if (q.maxLiveLeases !== undefined && total >= q.maxLiveLeases) return `${lease.owner} already held ${total} live leases, its quota ${q.maxLiveLeases}`;
  return null;
}

import { z } from "zod";

/**
 * Per-client quotas on live leases (acquired or active). An admin gives a token a quota when
 * issuing it (TokenIssued.leaseQuota); every lease that token asks for carries the quota that
 * applies to its type (LeaseRequested.quota), so the log alone says why a lease waited, and a
 * replay or a simulation decides the same. The count is over the owner's live leases, whichever
 * of its tokens asked for them: a client cannot escape its quota with a second token of its own.
 *
 * A lease over quota waits (cause `quota`), and it takes nothing in the fair queue
 * (decide-in-queue.ts): a flood from one client cannot keep another client's leases waiting.
 */
export const MAX_QUOTA = 100_000;
const count = z.number().int().min(0).max(MAX_QUOTA);

export const leaseQuotaSchema = z
  .strictObject({
    /** Live leases of every type at once. */
    maxLiveLeases: count.optional(),
    /** Live leases of one type at once, by resource type. */
    byResourceType: z.record(z.string().min(1).max(64), count).optional(),
  })
  .refine((q) => q.maxLiveLeases !== undefined || (q.byResourceType !== undefined && Object.keys(q.byResourceType).length > 0), {
    message: "name maxLiveLeases or at least one byResourceType entry",
  });
export type LeaseQuota = z.infer<typeof leaseQuotaSchema>;

/** The quota one lease carries: the limits of the token's quota that apply to its type. */
export const leaseQuotaOfLeaseSchema = z.object({
  maxLiveLeases: count.optional(),
  maxLiveLeasesOfType: count.optional(),
});
export type LeaseQuotaOfLease = z.infer<typeof leaseQuotaOfLeaseSchema>;

export function quotaForType(quota: LeaseQuota | null | undefined, resourceType: string): LeaseQuotaOfLease | null {
  if (!quota) return null;
  const ofType = quota.byResourceType?.[resourceType];
  if (quota.maxLiveLeases === undefined && ofType === undefined) return null;
  return { ...(quota.maxLiveLeases !== undefined ? { maxLiveLeases: quota.maxLiveLeases } : {}), ...(ofType !== undefined ? { maxLiveLeasesOfType: ofType } : {}) };
}

/** The owner's live leases now: of every type, and of the lease's type. */
export interface LiveLeaseCount {
  total: number;
  ofType: number;
}

/** Why a lease is over its quota, or null when it may take a slot (pure). */
export function quotaReason(owner: string, resourceType: string, quota: LeaseQuotaOfLease | null, live: LiveLeaseCount): string | null {
  if (!quota) return null;
  if (quota.maxLiveLeasesOfType !== undefined && live.ofType >= quota.maxLiveLeasesOfType) {
    return `quota: ${owner} holds ${live.ofType} live ${resourceType} lease${live.ofType === 1 ? "" : "s"}, its quota is ${quota.maxLiveLeasesOfType}`;
  }
  if (quota.maxLiveLeases !== undefined && live.total >= quota.maxLiveLeases) {
    return `quota: ${owner} holds ${live.total} live lease${live.total === 1 ? "" : "s"}, its quota is ${quota.maxLiveLeases}`;
  }
  return null;
}

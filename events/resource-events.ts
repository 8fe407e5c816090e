import { z } from "zod";

const attributes = z.record(z.string(), z.unknown());
const isoTime = z.string().datetime({ offset: true });

/** Events of a resource stream (`resource-<id>`). */
export const resourceEventSchemas = {
  ResourceAllocated: z.object({
    resourceId: z.string(),
    blueprintId: z.string(),
    resourceType: z.string(),
    attributes,
    /** How many leases may hold this resource at once. */
    leaseSlots: z.number().int().positive(),
    /** Slot locks the resource holds until destroyed (blueprint limit slot, one-per-host keys). */
    locks: z.array(z.string()),
    /** The lease whose allocation built it, if any. */
    forLeaseId: z.string().nullable(),
    /**
     * Why it was built when no lease asked for it: the policy (`warm pool: minReady 2 (1 ready)`,
     * src/domain/pool-policy.ts). Absent for a resource a lease's allocation built.
     */
    reason: z.string().optional(),
  }),
  ResourceActivated: z.object({ attributes }),
  ResourceActivationYielded: z.object({
    reason: z.string(),
    retryAt: isoTime,
    attempt: z.number().int().positive(),
  }),
  ResourceReleased: z.object({ reason: z.string() }),
  ResourceBroken: z.object({
    reason: z.string(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }),
  ResourceDestroyed: z.object({}),
  /**
   * A lease saw the resource itself fail (its host refused the connection, timed out): it takes
   * no new lease until a health check, run at once, clears it (ResourceRecovered) or breaks it.
   */
  ResourceSuspected: z.object({
    reason: z.string(),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
  ResourceRecovered: z.object({ reason: z.string() }),
  /**
   * The resource is on hold (src/domain/resource-hold.ts): it takes no new lease, and once
   * released or broken it is not destroyed, until the hold is released or `until` passes (the
   * worker then appends ResourceHoldReleased). `by` is who asked (an admin, or the lease whose
   * failure asked for it with `holdOnFailure`, then `leaseId` names it). A new hold replaces
   * the current one.
   */
  ResourceHeld: z.object({
    reason: z.string(),
    until: isoTime.nullable(),
    by: z.string(),
    leaseId: z.string().nullable(),
    /**
     * The resource's lease slots that were free when the hold was put, taken by the resource for
     * as long as the hold lasts (freed by ResourceHoldReleased or ResourceDestroyed). A lease
     * decided on a free slot just before the hold then loses that slot's race and decides again,
     * seeing the hold: no lease lands on a held resource after the hold. Absent in holds recorded
     * before this, and in holdOnFailure's holds (the resource has broken: nothing lands anyway).
     */
    locks: z.array(z.string()).optional(),
  }),
  ResourceHoldReleased: z.object({ reason: z.string() }),
  /**
   * The destroy step found the ended resource on hold: it let the resource's leases go and
   * waits for the hold (named in `reason`) to end before the blueprint tears the resource down.
   */
  ResourceDestroyDeferred: z.object({ reason: z.string() }),
} as const;

export type ResourceEventType = keyof typeof resourceEventSchemas;
export type ResourceEventData<T extends ResourceEventType> = z.infer<(typeof resourceEventSchemas)[T]>;
export type ResourceEvent = {
  [T in ResourceEventType]: { type: T; data: ResourceEventData<T> };
}[ResourceEventType];

export const resourceEventVersions: Record<ResourceEventType, number> = {
  ResourceAllocated: 1,
  ResourceActivated: 1,
  ResourceActivationYielded: 1,
  ResourceReleased: 1,
  ResourceBroken: 1,
  ResourceDestroyed: 1,
  ResourceSuspected: 1,
  ResourceRecovered: 1,
  ResourceHeld: 1,
  ResourceHoldReleased: 1,
  ResourceDestroyDeferred: 1,
};

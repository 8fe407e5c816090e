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
};

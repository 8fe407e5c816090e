import { z } from "zod";

/**
 * Events of a lease stream (`lease-<id>`). Every event is self-contained: projections never read
 * another stream's state to apply it, so a rebuild from the log reproduces the tables exactly.
 */
const isoTime = z.string().datetime({ offset: true });
const attributes = z.record(z.string(), z.unknown());

export const candidateSchema = z.object({
  kind: z.enum(["resource", "blueprint"]),
  id: z.string(),
  blueprintId: z.string().optional(),
  outcome: z.enum(["chosen", "skipped"]),
  reason: z.string(),
});
export type AllocationCandidate = z.infer<typeof candidateSchema>;

export const leaseEventSchemas = {
  LeaseRequested: z.object({
    leaseId: z.string(),
    resourceType: z.string(),
    attributes,
    /** Blueprints this lease may use; null means every blueprint of the type. */
    blueprintIds: z.array(z.string()).nullable(),
    owner: z.string(),
    /** Set when a resource holds this lease (a working copy leasing a host). */
    ownerResourceId: z.string().nullable(),
    ttlSeconds: z.number().int().positive().nullable(),
    expiresAt: isoTime.nullable(),
  }),
  AllocationAttempted: z.object({
    attempt: z.number().int().positive(),
    decision: z.enum(["acquire", "allocate", "reclaim", "wait", "break"]),
    candidates: z.array(candidateSchema),
    summary: z.string(),
  }),
  LeaseWaiting: z.object({
    reason: z.string(),
    retryAt: isoTime,
    blueprintIds: z.array(z.string()),
  }),
  LeaseYielded: z.object({
    reason: z.string(),
    retryAt: isoTime,
    attempt: z.number().int().positive(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }),
  LeaseAcquired: z.object({
    resourceId: z.string(),
    blueprintId: z.string(),
    slot: z.number().int().nonnegative(),
    /** Slot locks this lease holds until it ends; unique in the capacity view. */
    locks: z.array(z.string()),
  }),
  LeaseActivated: z.object({
    workingDirectory: z.string().nullable(),
  }),
  LeaseReacquiring: z.object({
    resourceId: z.string(),
    reason: z.string(),
  }),
  LeaseRenewed: z.object({
    ttlSeconds: z.number().int().positive(),
    expiresAt: isoTime,
  }),
  LeaseReleased: z.object({
    reason: z.enum(["requested", "expired", "resource-ended", "owner-ended"]),
    detail: z.string().nullable(),
  }),
  LeaseBroken: z.object({
    reason: z.string(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }),
  LeaseDestroyed: z.object({
    /** Cleanup that failed (the working directory could not be removed); the lease ends anyway. */
    cleanupError: z.string().nullable(),
  }),
} as const;

export type LeaseEventType = keyof typeof leaseEventSchemas;
export type LeaseEventData<T extends LeaseEventType> = z.infer<(typeof leaseEventSchemas)[T]>;
export type LeaseEvent = { [T in LeaseEventType]: { type: T; data: LeaseEventData<T> } }[LeaseEventType];

export const leaseEventVersions: Record<LeaseEventType, number> = {
  LeaseRequested: 1,
  AllocationAttempted: 1,
  LeaseWaiting: 1,
  LeaseYielded: 1,
  LeaseAcquired: 1,
  LeaseActivated: 1,
  LeaseReacquiring: 1,
  LeaseRenewed: 1,
  LeaseReleased: 1,
  LeaseBroken: 1,
  LeaseDestroyed: 1,
};

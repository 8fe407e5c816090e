import { z } from "zod";
import { leaseQuotaOfLeaseSchema } from "../src/domain/lease-quota";

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

/** Bounds of LeaseDestroyed's list of killed processes: a fork bomb must not make a huge event. */
export const KILLED_PROCESSES_LISTED = 100;
export const KILLED_COMMAND_CHARS = 200;

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
    /**
     * Whose blueprint authorizations the allocator checks for this lease: the client that asked,
     * or `blueprint:<id>` for a lease a resource of that blueprint holds. Null: none are needed
     * (an admin's lease, or one asked for below the API). Absent in events recorded before
     * authorizations existed, and read as null then, so an upgrade strands no pending lease; an
     * optional field reads old events as they are, so it needs no new version or upcaster.
     */
    authorizingObject: z.string().nullable().optional(),
    /**
     * The lease's place in the queue: waiting leases are served higher priority first, then in
     * request order (src/allocator/decide-in-queue.ts). Absent: 0, the default; only an admin may
     * ask for more than 0.
     */
    priority: z.number().int().min(-1000).max(1000).optional(),
    /**
     * The requesting token's quota for this lease's type (src/domain/lease-quota.ts): while its
     * owner holds that many live leases, it waits (cause `quota`). Absent: none.
     */
    quota: leaseQuotaOfLeaseSchema.optional(),
    /**
     * What chose `ttlSeconds` (src/domain/lease-ttl.ts): the request, the client's token default,
     * or the service default (which the acquiring blueprint's default may replace). Absent in
     * events recorded before default TTLs, whose TTL was always the request's: read as "request".
     * Optional, so older events read as they are: no new version, no upcaster.
     */
    ttlSource: z.enum(["request", "client", "service"]).optional(),
    /**
     * Keep the resource on hold this long if the lease fails on it (src/domain/resource-hold.ts
     * says which failures count), so a person can look. Absent: no hold (and in events recorded
     * before holds); optional, so older events read as they are.
     */
    holdOnFailure: z.object({ seconds: z.number().int().positive() }).optional(),
  }),
  /**
   * Version 2 adds `durationMs`: how long the allocator took to read the capacity view and
   * decide, so an explanation can tell allocator time from waiting time. Version-1 events are
   * upcast with `durationMs: null` (not measured), never rewritten.
   */
  AllocationAttempted: z.object({
    attempt: z.number().int().positive(),
    decision: z.enum(["acquire", "allocate", "reclaim", "wait", "break"]),
    candidates: z.array(candidateSchema),
    summary: z.string(),
    durationMs: z.number().nonnegative().nullable(),
  }),
  LeaseWaiting: z.object({
    reason: z.string(),
    retryAt: isoTime,
    blueprintIds: z.array(z.string()),
    /**
     * What it waits for, when the allocator knows better than "a free slot": a configuration
     * error only a config change can fix. Absent in events recorded before it existed.
     */
    cause: z.enum(["capacity", "configuration", "quota"]).optional(),
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
    /**
     * The acquiring blueprint's default TTL, set when the lease's TTL was still a default (no
     * request or client chose it): the lease now expires `ttlSeconds` after its acquisition.
     * Absent: the TTL stays as it was (and in every event recorded before blueprint defaults).
     */
    blueprintTtl: z.object({ ttlSeconds: z.number().int().positive(), expiresAt: isoTime }).optional(),
    /**
     * The acquiring blueprint's cap (maxLeaseSeconds, src/domain/lease-ttl.ts) cut the lease's
     * expiry to `at` (its request time plus the cap). Absent: the expiry stands as it was.
     */
    capped: z.object({ maxLeaseSeconds: z.number().int().positive(), at: isoTime }).optional(),
  }),
  LeaseActivated: z.object({
    workingDirectory: z.string().nullable(),
  }),
  LeaseReacquiring: z.object({
    resourceId: z.string(),
    reason: z.string(),
    /**
     * True: the resource's blueprint ran out of capacity before building it (a CapacityShortage).
     * Such a move is the provider's, not a sign that this lease breaks what it lands on, so it
     * does not count toward the bound on resources that end under one lease (MAX_REACQUIRES).
     */
    shortage: z.boolean().optional(),
  }),
  /**
   * An admin changed the quota of the token that asked for this waiting lease
   * (TokenQuotaChanged): the lease is judged by `quota` from now on, and looks again at once.
   */
  LeaseQuotaChanged: z.object({
    quota: leaseQuotaOfLeaseSchema.nullable(),
    /** The token whose quota changed, and what it is now, in words. */
    reason: z.string(),
  }),
  LeaseRenewed: z.object({
    ttlSeconds: z.number().int().positive(),
    expiresAt: isoTime,
    /**
     * The blueprint's cap cut the renewal: `expiresAt` is the cap (`at`), not now plus what was
     * asked; `ttlSeconds` is what was left under it. Absent: renewed as asked.
     */
    capped: z.object({ maxLeaseSeconds: z.number().int().positive(), at: isoTime }).optional(),
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
    /**
     * Processes the lease left running that its teardown killed (the `static-hosts` blueprint
     * finds them by the DRYDOCK_LEASE entry in their environment): pid and the start of the
     * command line. An empty list: it looked and found none; absent: the blueprint does not look
     * (or the event predates this). Optional, so older events read as they are, no new version.
     */
    killedProcesses: z
      .array(z.object({ pid: z.number().int().positive(), command: z.string().max(KILLED_COMMAND_CHARS) }))
      .max(KILLED_PROCESSES_LISTED)
      .optional(),
    /** Killed beyond the ones listed. */
    killedProcessesOmitted: z.number().int().positive().optional(),
  }),
} as const;

export type LeaseEventType = keyof typeof leaseEventSchemas;
export type LeaseEventData<T extends LeaseEventType> = z.infer<(typeof leaseEventSchemas)[T]>;
export type LeaseEvent = { [T in LeaseEventType]: { type: T; data: LeaseEventData<T> } }[LeaseEventType];

export const leaseEventVersions: Record<LeaseEventType, number> = {
  LeaseRequested: 1,
  AllocationAttempted: 2,
  LeaseWaiting: 1,
  LeaseYielded: 1,
  LeaseAcquired: 1,
  LeaseActivated: 1,
  LeaseReacquiring: 1,
  LeaseQuotaChanged: 1,
  LeaseRenewed: 1,
  LeaseReleased: 1,
  LeaseBroken: 1,
  LeaseDestroyed: 1,
};

/** Upcasters of old lease event versions, by type and the version they start from. */
export const leaseEventUpcasters: Partial<Record<LeaseEventType, Record<number, (data: Record<string, unknown>) => Record<string, unknown>>>> = {
  AllocationAttempted: {
    1: (data) => ({ ...data, durationMs: null }),
  },
};

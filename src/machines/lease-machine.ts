import { setup } from "xstate";
import type { LeaseQuotaOfLease } from "../domain/lease-quota";
import type { LeaseEvent } from "../../events/lease-events";
import type { TtlSource } from "../domain/lease-ttl";
import { assignEach, type ContextUpdates } from "./context-updates";

/**
 * The lease lifecycle. Events are the lease stream's domain events with the time they were
 * recorded (`at`, an ISO string), so the fold is pure: no clock, no ids, no I/O.
 *
 *   pending -> acquired -> active -> released | broken -> destroyed
 *   pending -> released (cancelled), acquired -> pending (its resource died before activation)
 */
export type LeaseMachineEvent = LeaseEvent & { at: string };

export type LeaseStatus = "new" | "pending" | "acquired" | "active" | "released" | "broken" | "destroyed";

export interface LeaseContext {
  leaseId: string;
  resourceType: string;
  attributes: Record<string, unknown>;
  blueprintIds: string[] | null;
  owner: string;
  ownerResourceId: string | null;
  /** Whose blueprint authorizations the allocator checks; null: none needed (see LeaseRequested). */
  authorizingObject: string | null;
  /** Queue priority (LeaseRequested); absent in states stored before priorities: read it as 0. */
  priority?: number;
  /** The quota it carries (LeaseRequested); absent in states stored before quotas: none. */
  quota?: LeaseQuotaOfLease | null;
  expiresAt: string | null;
  /**
   * The lease's current TTL and what set it (src/domain/lease-ttl.ts). Absent in states stored
   * before default TTLs (streams.state): read them as null and "request".
   */
  ttlSeconds: number | null;
  ttlSource: TtlSource;
  /** LeaseRequested's holdOnFailure (src/domain/resource-hold.ts); absent in states stored before holds: read as null. */
  holdOnFailureSeconds: number | null;
  resourceId: string | null;
  blueprintId: string | null;
  /** Allocation attempts made so far, and temporary failures since the last step forward. */
  attempts: number;
  failures: number;
  /**
   * Times the lease went back to pending because its resource ended under it: before it
   * activated, or while active on a blueprint whose leases move (`leasesMoveWhenBroken`).
   */
  reacquires: number;
  retryAt: string | null;
  waitReason: string | null;
  workingDirectory: string | null;
  endReason: string | null;
  requestedAt: string | null;
  acquiredAt: string | null;
  activatedAt: string | null;
  endedAt: string | null;
}

export const initialLeaseContext: LeaseContext = {
  leaseId: "",
  resourceType: "",
  attributes: {},
  blueprintIds: null,
  owner: "",
  ownerResourceId: null,
  authorizingObject: null,
  expiresAt: null,
  ttlSeconds: null,
  ttlSource: "request",
  holdOnFailureSeconds: null,
  resourceId: null,
  blueprintId: null,
  attempts: 0,
  failures: 0,
  reacquires: 0,
  retryAt: null,
  waitReason: null,
  workingDirectory: null,
  endReason: null,
  requestedAt: null,
  acquiredAt: null,
  activatedAt: null,
  endedAt: null,
};

type Of<T extends LeaseMachineEvent["type"]> = Extract<LeaseMachineEvent, { type: T }>;

/**
 * How each event changes the lease's context: plain pure functions, which the machine's `assign`
 * actions call and the fast fold (fold.ts) calls directly. Which one runs, and in which state, is
 * the machine's to say.
 */
export const leaseUpdates = {
  request: (_: LeaseContext, e: Of<"LeaseRequested">) => ({
    leaseId: e.data.leaseId,
    resourceType: e.data.resourceType,
    attributes: e.data.attributes,
    blueprintIds: e.data.blueprintIds,
    owner: e.data.owner,
    ownerResourceId: e.data.ownerResourceId,
    authorizingObject: e.data.authorizingObject ?? null,
    priority: e.data.priority ?? 0,
    quota: e.data.quota ?? null,
    expiresAt: e.data.expiresAt,
    ttlSeconds: e.data.ttlSeconds,
    ttlSource: e.data.ttlSource ?? "request",
    holdOnFailureSeconds: e.data.holdOnFailure?.seconds ?? null,
    requestedAt: e.at,
  }),
  attempted: (c: LeaseContext) => ({ attempts: c.attempts + 1 }),
  wait: (_: LeaseContext, e: Of<"LeaseWaiting">) => ({ retryAt: e.data.retryAt, waitReason: e.data.reason }),
  yielded: (c: LeaseContext, e: Of<"LeaseYielded">) => ({ retryAt: e.data.retryAt, waitReason: e.data.reason, failures: c.failures + 1 }),
  acquire: (_: LeaseContext, e: Of<"LeaseAcquired">) => ({
    // The blueprint's default TTL replaces a default one, from the acquisition on.
    ...(e.data.blueprintTtl ? { ttlSeconds: e.data.blueprintTtl.ttlSeconds, expiresAt: e.data.blueprintTtl.expiresAt, ttlSource: "blueprint" as const } : {}),
    // The blueprint's cap cuts the expiry, whatever set it (src/domain/lease-ttl.ts).
    ...(e.data.capped ? { expiresAt: e.data.capped.at } : {}),
    resourceId: e.data.resourceId,
    blueprintId: e.data.blueprintId,
    acquiredAt: e.at,
    retryAt: null,
    waitReason: null,
    failures: 0,
  }),
  activate: (_: LeaseContext, e: Of<"LeaseActivated">) => ({
    workingDirectory: e.data.workingDirectory,
    activatedAt: e.at,
    retryAt: null,
    waitReason: null,
    failures: 0,
  }),
  reacquire: (c: LeaseContext, e: Of<"LeaseReacquiring">) => ({
    reacquires: c.reacquires + (e.data.shortage ? 0 : 1),
    resourceId: null,
    blueprintId: null,
    acquiredAt: null,
    // A lease moved off an active resource starts over: where it ran is gone with the resource.
    workingDirectory: null,
    activatedAt: null,
    retryAt: null,
    waitReason: null,
    failures: 0,
  }),
  requota: (_: LeaseContext, e: Of<"LeaseQuotaChanged">) => ({ quota: e.data.quota, retryAt: null, waitReason: null }),
  renew: (_: LeaseContext, e: Of<"LeaseRenewed">) => ({ expiresAt: e.data.expiresAt, ttlSeconds: e.data.ttlSeconds, ttlSource: "renewal" as const }),
  release: (_: LeaseContext, e: Of<"LeaseReleased">) => ({
    endReason: e.data.detail ? `${e.data.reason}: ${e.data.detail}` : e.data.reason,
    endedAt: e.at,
    retryAt: null,
    waitReason: null,
  }),
  break: (_: LeaseContext, e: Of<"LeaseBroken">) => ({ endReason: e.data.reason, endedAt: e.at, retryAt: null, waitReason: null }),
} satisfies ContextUpdates<LeaseContext>;

export const leaseMachine = setup({
  types: { context: {} as LeaseContext, events: {} as LeaseMachineEvent },
  actions: assignEach<LeaseContext, LeaseMachineEvent, typeof leaseUpdates>(leaseUpdates),
}).createMachine({
  id: "lease",
  initial: "new",
  context: initialLeaseContext,
  states: {
    new: { on: { LeaseRequested: { target: "pending", actions: "request" } } },
    pending: {
      on: {
        AllocationAttempted: { actions: "attempted" },
        LeaseWaiting: { actions: "wait" },
        LeaseYielded: { actions: "yielded" },
        LeaseRenewed: { actions: "renew" },
        // Only while it waits: an acquired lease already has what the quota guards.
        LeaseQuotaChanged: { actions: "requota" },
        LeaseAcquired: { target: "acquired", actions: "acquire" },
        LeaseReleased: { target: "released", actions: "release" },
        LeaseBroken: { target: "broken", actions: "break" },
      },
    },
    acquired: {
      on: {
        // Waiting for the resource to activate: not a failure, so it does not count toward giving up.
        LeaseWaiting: { actions: "wait" },
        LeaseYielded: { actions: "yielded" },
        LeaseRenewed: { actions: "renew" },
        LeaseActivated: { target: "active", actions: "activate" },
        LeaseReacquiring: { target: "pending", actions: "reacquire" },
        LeaseReleased: { target: "released", actions: "release" },
        LeaseBroken: { target: "broken", actions: "break" },
      },
    },
    active: {
      on: {
        LeaseRenewed: { actions: "renew" },
        // Only when its resource broke and its blueprint's leases move (src/blueprints/blueprint.ts).
        LeaseReacquiring: { target: "pending", actions: "reacquire" },
        LeaseReleased: { target: "released", actions: "release" },
        LeaseBroken: { target: "broken", actions: "break" },
      },
    },
    released: { on: { LeaseDestroyed: "destroyed" } },
    broken: { on: { LeaseDestroyed: "destroyed" } },
    destroyed: { type: "final" },
  },
});

/** Live leases hold (or wait for) a slot; ended ones wait only for cleanup. */
export function isLiveLeaseStatus(status: LeaseStatus): boolean {
  return status === "pending" || status === "acquired" || status === "active";
}

import { setup } from "xstate";
import type { ResourceEvent } from "../../events/resource-events";
import type { ResourceHold } from "../domain/resource-hold";
import { assignEach, type ContextUpdates } from "./context-updates";

/**
 * The resource lifecycle: pending -> active -> released | broken -> destroyed.
 * A pending resource can also be released or broken (its build failed or was cancelled). An
 * active one may be suspect (a lease saw its host fail) until a health check clears or breaks it.
 * Any live or ended resource may be put on hold and have its hold released (src/domain/resource-hold.ts);
 * the hold is context, not a status: a held resource is still active, released or broken. The
 * machine has no guards (compile-machine.ts), so "release a hold there is none of" is refused by
 * the command, and `drydock verify` checks it over the log.
 */
export type ResourceMachineEvent = ResourceEvent & { at: string };

export type ResourceStatus = "new" | "pending" | "active" | "released" | "broken" | "destroyed";

export interface ResourceContext {
  resourceId: string;
  blueprintId: string;
  resourceType: string;
  attributes: Record<string, unknown>;
  leaseSlots: number;
  forLeaseId: string | null;
  failures: number;
  retryAt: string | null;
  endReason: string | null;
  /** Why a lease's failure made the resource suspect (no new leases until a health check); null otherwise. */
  suspectReason: string | null;
  /** The hold on it (ResourceHeld), until released or expired; absent in states stored before holds: read as null. */
  hold: ResourceHold | null;
  /** The destroy step let its leases go and waits for the hold to end (ResourceDestroyDeferred). */
  destroyDeferred: boolean;
  allocatedAt: string | null;
  activatedAt: string | null;
  endedAt: string | null;
}

export const initialResourceContext: ResourceContext = {
  resourceId: "",
  blueprintId: "",
  resourceType: "",
  attributes: {},
  leaseSlots: 1,
  forLeaseId: null,
  failures: 0,
  retryAt: null,
  endReason: null,
  suspectReason: null,
  hold: null,
  destroyDeferred: false,
  allocatedAt: null,
  activatedAt: null,
  endedAt: null,
};

type Of<T extends ResourceMachineEvent["type"]> = Extract<ResourceMachineEvent, { type: T }>;

/** How each event changes the resource's context: the machine's `assign`s and the fast fold call these. */
export const resourceUpdates = {
  allocate: (_: ResourceContext, e: Of<"ResourceAllocated">) => ({
    resourceId: e.data.resourceId,
    blueprintId: e.data.blueprintId,
    resourceType: e.data.resourceType,
    attributes: e.data.attributes,
    leaseSlots: e.data.leaseSlots,
    forLeaseId: e.data.forLeaseId,
    allocatedAt: e.at,
  }),
  activate: (c: ResourceContext, e: Of<"ResourceActivated">) => ({
    attributes: { ...c.attributes, ...e.data.attributes },
    activatedAt: e.at,
    retryAt: null,
    failures: 0,
  }),
  yielded: (c: ResourceContext, e: Of<"ResourceActivationYielded">) => ({ retryAt: e.data.retryAt, failures: c.failures + 1 }),
  end: (_: ResourceContext, e: Of<"ResourceReleased" | "ResourceBroken">) => ({ endReason: e.data.reason, endedAt: e.at, retryAt: null, suspectReason: null }),
  suspect: (_: ResourceContext, e: Of<"ResourceSuspected">) => ({ suspectReason: e.data.reason }),
  recover: () => ({ suspectReason: null }),
  hold: (_: ResourceContext, e: Of<"ResourceHeld">) => ({ hold: { reason: e.data.reason, until: e.data.until, by: e.data.by, leaseId: e.data.leaseId, since: e.at } }),
  unhold: () => ({ hold: null }),
  deferDestroy: () => ({ destroyDeferred: true }),
} satisfies ContextUpdates<ResourceContext>;

/** A released or broken resource: destroyed, unless a hold keeps it (the destroy step then waits). */
const ENDED = {
  ResourceDestroyed: "destroyed",
  ResourceHeld: { actions: "hold" },
  ResourceHoldReleased: { actions: "unhold" },
  ResourceDestroyDeferred: { actions: "deferDestroy" },
} as const;

export const resourceMachine = setup({
  types: { context: {} as ResourceContext, events: {} as ResourceMachineEvent },
  actions: assignEach<ResourceContext, ResourceMachineEvent, typeof resourceUpdates>(resourceUpdates),
}).createMachine({
  id: "resource",
  initial: "new",
  context: initialResourceContext,
  states: {
    new: { on: { ResourceAllocated: { target: "pending", actions: "allocate" } } },
    pending: {
      on: {
        ResourceActivationYielded: { actions: "yielded" },
        ResourceHeld: { actions: "hold" },
        ResourceHoldReleased: { actions: "unhold" },
        ResourceActivated: { target: "active", actions: "activate" },
        ResourceReleased: { target: "released", actions: "end" },
        ResourceBroken: { target: "broken", actions: "end" },
      },
    },
    active: {
      on: {
        ResourceSuspected: { actions: "suspect" },
        ResourceRecovered: { actions: "recover" },
        ResourceHeld: { actions: "hold" },
        ResourceHoldReleased: { actions: "unhold" },
        ResourceReleased: { target: "released", actions: "end" },
        ResourceBroken: { target: "broken", actions: "end" },
      },
    },
    released: { on: ENDED },
    broken: { on: ENDED },
    destroyed: { type: "final" },
  },
});

export function isLiveResourceStatus(status: ResourceStatus): boolean {
  return status === "pending" || status === "active";
}

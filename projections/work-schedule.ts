import { hasPoolPolicy } from "../src/domain/pool-policy";

/**
 * What a worker must do next for a stream, derived from its projected row alone (pure).
 * `null` means nothing: the stream is idle until something happens to it.
 */
export type LeaseWorkKind = "allocate" | "activate" | "expire" | "destroy";
export type ResourceWorkKind = "activate" | "destroy" | "end-hold";
export type BlueprintWorkKind = "pool";

export interface ScheduledWork<K extends string> {
  kind: K;
  runAt: Date;
}

export interface LeaseScheduleInput {
  status: string;
  retry_at: Date | null;
  expires_at: Date | null;
}

function earliest(a: Date | null, b: Date | null, fallback: Date): Date {
  const times = [a, b].filter((t): t is Date => t !== null).map((t) => t.getTime());
  return times.length === 0 ? fallback : new Date(Math.min(...times));
}

export function leaseWork(lease: LeaseScheduleInput, at: Date): ScheduledWork<LeaseWorkKind> | null {
  switch (lease.status) {
    case "pending":
      // Retry at the backoff time, but never later than the expiry, which also ends waiting.
      return { kind: "allocate", runAt: lease.retry_at ? earliest(lease.retry_at, lease.expires_at, at) : at };
    case "acquired":
      return { kind: "activate", runAt: lease.retry_at ? earliest(lease.retry_at, lease.expires_at, at) : at };
    case "active":
      return lease.expires_at ? { kind: "expire", runAt: lease.expires_at } : null;
    case "released":
    case "broken":
      return { kind: "destroy", runAt: at };
    default:
      return null;
  }
}

export interface ResourceScheduleInput {
  status: string;
  retry_at: Date | null;
  /** The hold (src/domain/resource-hold.ts): set while held; its end, null for none. Absent: no hold. */
  hold_reason?: string | null;
  hold_until?: Date | null;
  destroy_deferred?: boolean;
}

/**
 * A held resource's item waits for the hold: an active one has the hold's end to run
 * (`end-hold` at `until`; nothing for a hold without an end: its release is an event, which
 * reschedules). An ended one runs its destroy step once at once, which lets its leases go and
 * records that it waits (ResourceDestroyDeferred); from then on its item is the hold's end.
 */
export function resourceWork(resource: ResourceScheduleInput, at: Date): ScheduledWork<ResourceWorkKind> | null {
  const held = resource.hold_reason != null;
  const endHold = held && resource.hold_until ? { kind: "end-hold" as const, runAt: resource.hold_until } : null;
  switch (resource.status) {
    case "pending":
      return { kind: "activate", runAt: resource.retry_at ?? at };
    case "active":
      return endHold;
    case "released":
    case "broken":
      return held && resource.destroy_deferred ? endHold : { kind: "destroy", runAt: at };
    default:
      return null;
  }
}

export interface BlueprintScheduleInput {
  min_ready: number | null;
  max_leases_per_resource: number | null;
  max_age_seconds: number | null;
  idle_destroy_seconds: number | null;
}

/**
 * A blueprint with a pool policy (src/domain/pool-policy.ts) has one item, `pool`, due at its
 * last event: the pool step builds, recycles and retires, then moves the item's time on to its
 * next deadline itself (an idle or age limit). Events of its resources and their leases wake it
 * (work-projection.ts); a blueprint without a policy has none, and costs nothing.
 */
export function blueprintWork(blueprint: BlueprintScheduleInput, at: Date): ScheduledWork<BlueprintWorkKind> | null {
  const policy = {
    minReady: blueprint.min_ready,
    maxLeasesPerResource: blueprint.max_leases_per_resource,
    maxAgeSeconds: blueprint.max_age_seconds,
    idleDestroySeconds: blueprint.idle_destroy_seconds,
  };
  return hasPoolPolicy(policy) ? { kind: "pool", runAt: at } : null;
}

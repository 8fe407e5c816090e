/**
 * What a worker must do next for a stream, derived from its projected row alone (pure).
 * `null` means nothing: the stream is idle until something happens to it.
 */
export type LeaseWorkKind = "allocate" | "activate" | "expire" | "destroy";
export type ResourceWorkKind = "activate" | "destroy" | "end-hold";

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

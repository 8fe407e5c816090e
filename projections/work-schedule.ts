/**
 * What a worker must do next for a stream, derived from its projected row alone (pure).
 * `null` means nothing: the stream is idle until something happens to it.
 */
export type LeaseWorkKind = "allocate" | "activate" | "expire" | "destroy";
export type ResourceWorkKind = "activate" | "destroy";

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
}

export function resourceWork(resource: ResourceScheduleInput, at: Date): ScheduledWork<ResourceWorkKind> | null {
  switch (resource.status) {
    case "pending":
      return { kind: "activate", runAt: resource.retry_at ?? at };
    case "released":
    case "broken":
      return { kind: "destroy", runAt: at };
    default:
      return null;
  }
}

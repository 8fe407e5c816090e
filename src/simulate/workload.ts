import type { LeaseQuotaOfLease } from "../domain/lease-quota";

/**
 * What a simulation replays: the recorded requests and releases of one window, the blueprints
 * as they stood, and the pool that was alive when the window opened. Plain data (times in epoch
 * milliseconds), read from the log by workload-of-log.ts; the simulation core never reads the
 * log itself, so the same workload always gives the same simulation.
 */
export interface SimulationWindow {
  from: number;
  to: number;
}

/** One lease as recorded: what it asked for, where it stood in the queue, and what became of it. */
export interface WorkloadLease {
  leaseId: string;
  resourceType: string;
  attributes: Record<string, unknown>;
  blueprintIds: string[] | null;
  owner: string;
  ownerResourceId: string | null;
  authorizingObject: string | null;
  /** LeaseRequested.priority (0 when absent). */
  priority: number;
  /** LeaseRequested.quota: its owner's quota on live leases, as the token carried it; null: none. */
  quota: LeaseQuotaOfLease | null;
  requestedAt: number;
  /** Recorded LeaseActivated; null if it never activated. */
  activatedAt: number | null;
  /** Recorded LeaseReleased or LeaseBroken; null while it lives. */
  endedAt: number | null;
  /** How it ended, as recorded. */
  ended: "released" | "broken" | null;
}

/** A blueprint change inside the window (BlueprintUpdated, BlueprintDisabled, BlueprintEnabled). */
export interface BlueprintChange {
  at: number;
  name?: string;
  config?: Record<string, unknown>;
  resourceLimit?: number | null;
  /** A new warm pool (src/domain/pool-policy.ts); absent: unchanged. */
  minReady?: number | null;
  enabled?: boolean;
}

export interface WorkloadBlueprint {
  blueprintId: string;
  name: string;
  kind: string;
  resourceType: string;
  /** As of the window's start (as created, if created inside the window). */
  config: Record<string, unknown>;
  resourceLimit: number | null;
  /** Its recorded warm pool as of the window's start (minReady); absent or null: none. */
  minReady?: number | null;
  enabled: boolean;
  /** When it was created: a blueprint created inside the window serves nothing before. */
  createdAt: number;
  changes: BlueprintChange[];
  /**
   * The virtual build delay: the median of its recorded builds (ResourceAllocated →
   * ResourceActivated, over the whole log); null when none ever activated (builds then take 0).
   */
  buildMs: number | null;
  /** Recorded builds behind buildMs. */
  builds: number;
  /**
   * The allocator's latency: from the moment capacity was there for a lease (its request on a
   * free resource, its resource's activation, or the release of the slot it queued for) to its
   * LeaseActivated, the median over the leases this blueprint served; null when none activated.
   */
  latencyMs: number | null;
  /** Recorded activations behind latencyMs. */
  activations: number;
}

/** A resource as recorded: its life, for peak resources and resource-hours. */
export interface WorkloadResource {
  resourceId: string;
  blueprintId: string;
  attributes: Record<string, unknown>;
  leaseSlots: number;
  allocatedAt: number;
  activatedAt: number | null;
  /** ResourceReleased or ResourceBroken; null while it lives. */
  endedAt: number | null;
}

/** A lease acquired before the window opened and still holding its slot then. */
export interface CarriedLease {
  leaseId: string;
  owner: string;
  resourceType: string;
  resourceId: string;
  slot: number;
  /** Its recorded end, when it gives the slot back; null: it never did. */
  endsAt: number | null;
}

export interface Workload {
  window: SimulationWindow;
  blueprints: WorkloadBlueprint[];
  /** Leases requested inside the window, and leases still pending when it opened. */
  leases: WorkloadLease[];
  /** Resources alive (pending or active) when the window opened: the simulation's initial pool. */
  initialPool: WorkloadResource[];
  /** Slots of the initial pool held by leases from before the window. */
  carried: CarriedLease[];
  /** Every resource whose life overlaps the window, as recorded. */
  resources: WorkloadResource[];
}

/** Queue order, as the allocator's (decide-in-queue.ts): priority desc, then request time, then id. */
export function queueOrder(a: { priority: number; requestedAt: number; leaseId: string }, b: { priority: number; requestedAt: number; leaseId: string }): number {
  return b.priority - a.priority || a.requestedAt - b.requestedAt || (a.leaseId < b.leaseId ? -1 : a.leaseId > b.leaseId ? 1 : 0);
}

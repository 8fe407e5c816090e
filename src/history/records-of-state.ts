import type { LeaseState, ResourceState } from "../machines/fold";
import type { LeaseRecord } from "../queries/lease-queries";
import { idleSinceOf, type ResourceLoad } from "../queries/resource-load";
import type { ResourceRecord } from "../queries/resource-queries";
import { isoOrNull } from "../queries/iso-time";

/**
 * The API's lease and resource records, made from a stream folded through its machine instead
 * of read from a projection: what `?asOf=` and `replay --as-of` show (pure).
 */

export function leaseRecordOfState(state: LeaseState): LeaseRecord {
  const c = state.context;
  return {
    id: c.leaseId,
    resourceType: c.resourceType,
    status: state.status,
    owner: c.owner,
    ownerResourceId: c.ownerResourceId,
    attributes: c.attributes,
    blueprintIds: c.blueprintIds,
    priority: c.priority ?? 0,
    resourceId: c.resourceId,
    blueprintId: c.blueprintId,
    expiresAt: isoOrNull(c.expiresAt),
    // States stored before default TTLs lack these (see LeaseContext).
    ttlSeconds: c.ttlSeconds ?? null,
    ttlSource: c.ttlSource ?? "request",
    waitReason: c.waitReason,
    retryAt: isoOrNull(c.retryAt),
    endReason: c.endReason,
    requestedAt: isoOrNull(c.requestedAt)!,
    acquiredAt: isoOrNull(c.acquiredAt),
    activatedAt: isoOrNull(c.activatedAt),
    endedAt: isoOrNull(c.endedAt),
    version: state.version,
  };
}

/** Live leases per resource and when each resource's last lease ended, from folded leases. */
export function resourceLoadsOf(leases: Iterable<LeaseState>): Map<string, ResourceLoad> {
  const loads = new Map<string, ResourceLoad>();
  for (const lease of leases) {
    const resourceId = lease.context.resourceId;
    if (!resourceId) continue;
    const load = loads.get(resourceId) ?? { liveLeases: 0, lastLeaseEndedAt: null };
    if (lease.status === "acquired" || lease.status === "active") load.liveLeases++;
    const ended = lease.context.endedAt ? new Date(lease.context.endedAt) : null;
    if (ended && (!load.lastLeaseEndedAt || ended > load.lastLeaseEndedAt)) load.lastLeaseEndedAt = ended;
    loads.set(resourceId, load);
  }
  return loads;
}

export function resourceRecordOfState(state: ResourceState, load: ResourceLoad | undefined): ResourceRecord {
  const c = state.context;
  return {
    id: c.resourceId,
    blueprintId: c.blueprintId,
    resourceType: c.resourceType,
    status: state.status,
    attributes: c.attributes,
    leaseSlots: c.leaseSlots,
    liveLeases: load?.liveLeases ?? 0,
    endReason: c.endReason,
    // States stored before suspect resources lack it.
    suspectReason: c.suspectReason ?? null,
    // States stored before holds lack it.
    hold: c.hold ? { reason: c.hold.reason, until: c.hold.until, by: c.hold.by, leaseId: c.hold.leaseId, since: c.hold.since } : null,
    // A step's failures are the worker's operational state, not in the log (failing-steps.ts).
    failingStep: null,
    allocatedAt: isoOrNull(c.allocatedAt)!,
    activatedAt: isoOrNull(c.activatedAt),
    endedAt: isoOrNull(c.endedAt),
    idleSince: idleSinceOf(state.status, c.activatedAt, load)?.toISOString() ?? null,
    version: state.version,
  };
}

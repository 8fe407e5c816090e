import type { AllocationView, BlueprintCandidate, ResourceCandidate } from "../allocator/decide-allocation";
import type { LiveLeaseCount } from "../domain/lease-quota";
import { misconfigured, type BlueprintImplementation, type BlueprintView, type LeaseView, type ResourceView } from "../blueprints/blueprint";
import type { PoolPolicy } from "./policy";
import type { BlueprintChange, WorkloadBlueprint, WorkloadLease } from "./workload";

/**
 * The simulation's state: virtual blueprints, resources and leases, and the allocation view of
 * one lease built from them exactly as loadAllocationView builds it from the projections, with the
 * same blueprint predicates. What the real view reads from slot locks is counted here from the
 * virtual resources: a lease slot is held from acquisition to the lease's end, a limit slot from
 * a resource's allocation to its end (a reclaimed resource is destroyed at once).
 */
export type ImplementationOf = (kind: string) => BlueprintImplementation | undefined;

export interface VirtualBlueprint {
  recorded: WorkloadBlueprint;
  impl: BlueprintImplementation | undefined;
  name: string;
  rawConfig: Record<string, unknown>;
  /** The parsed config, or why parseConfig refused it. */
  config: unknown;
  configError: string | null;
  resourceLimit: number | null;
  /** The warm pool: --min-ready, else the recorded minReady; null: none. */
  minReady: number | null;
  enabled: boolean;
}

export interface VirtualResource {
  resourceId: string;
  blueprintId: string;
  resourceType: string;
  attributes: Record<string, unknown>;
  leaseSlots: number;
  status: "pending" | "active" | "ended";
  limitSlot: number | null;
  allocatedAt: number;
  activatedAt: number | null;
  endedAt: number | null;
  /** Lease slots in use: slot → lease id (a carried lease's id for slots held from before the window). */
  slots: Map<number, string>;
  lastLeaseEndedAt: number | null;
}

export interface VirtualLease {
  recorded: WorkloadLease;
  priority: number;
  status: "future" | "pending" | "acquired" | "active" | "ended";
  resourceId: string | null;
  slot: number | null;
  activatedAt: number | null;
  endedAt: number | null;
  ended: "released" | "broken" | "cancelled" | null;
}

export function virtualBlueprint(recorded: WorkloadBlueprint, implementationOf: ImplementationOf, policy: PoolPolicy): VirtualBlueprint {
  const vb: VirtualBlueprint = {
    recorded,
    impl: implementationOf(recorded.kind),
    name: recorded.name,
    rawConfig: recorded.config,
    config: {},
    configError: null,
    resourceLimit: policy.limit[recorded.blueprintId] ?? recorded.resourceLimit,
    minReady: policy.minReady[recorded.blueprintId] ?? recorded.minReady ?? null,
    enabled: recorded.enabled,
  };
  parseInto(vb);
  return vb;
}

/** A recorded change at its time; a limit the policy fixes stays fixed. */
export function applyChange(vb: VirtualBlueprint, change: BlueprintChange, policy: PoolPolicy): void {
  if (change.name !== undefined) vb.name = change.name;
  if (change.enabled !== undefined) vb.enabled = change.enabled;
  if (change.resourceLimit !== undefined && policy.limit[vb.recorded.blueprintId] === undefined) vb.resourceLimit = change.resourceLimit;
  if (change.minReady !== undefined && policy.minReady[vb.recorded.blueprintId] === undefined) vb.minReady = change.minReady;
  if (change.config !== undefined) {
    vb.rawConfig = change.config;
    parseInto(vb);
  }
}

function parseInto(vb: VirtualBlueprint): void {
  if (!vb.impl) return;
  try {
    vb.config = vb.impl.parseConfig(vb.rawConfig);
    vb.configError = null;
  } catch (error) {
    vb.configError = error instanceof Error ? error.message : String(error);
  }
}

export function leaseViewOfVirtual(lease: VirtualLease): LeaseView & { blueprintIds: string[] | null } {
  const r = lease.recorded;
  return { leaseId: r.leaseId, resourceType: r.resourceType, attributes: r.attributes, owner: r.owner, ownerResourceId: r.ownerResourceId, authorizingObject: r.authorizingObject, blueprintIds: r.blueprintIds };
}

export function blueprintViewOfVirtual(vb: VirtualBlueprint, liveResources: number): BlueprintView {
  const b = vb.recorded;
  return { blueprintId: b.blueprintId, name: vb.name, kind: b.kind, resourceType: b.resourceType, config: vb.config as Record<string, unknown>, resourceLimit: vb.resourceLimit, enabled: vb.enabled, liveResources, failingTargets: [] };
}

export function resourceViewOfVirtual(r: VirtualResource): ResourceView {
  return {
    resourceId: r.resourceId,
    blueprintId: r.blueprintId,
    resourceType: r.resourceType,
    status: r.status === "ended" ? "released" : r.status,
    attributes: r.attributes,
    leaseSlots: r.leaseSlots,
    liveLeases: r.slots.size,
    suspectReason: null,
    endReason: null,
  };
}

/** Active with no lease since its activation or its last lease's end; null otherwise (idleSinceOf's rule). */
export function idleSinceOfVirtual(r: VirtualResource): number | null {
  if (r.status !== "active" || r.slots.size > 0) return null;
  return Math.max(r.activatedAt ?? r.allocatedAt, r.lastLeaseEndedAt ?? 0);
}

/**
 * One lease's view over the virtual pool at `now`: the blueprints of its type that exist by now
 * and whose kind this process knows, their live resources, and the lease's recorded quota with
 * its owner's live leases (`liveOf`). Authorizations are not simulated: every lease may use every
 * blueprint its request allows (blueprintIds).
 */
export function viewOfLease(
  lease: VirtualLease,
  blueprints: readonly VirtualBlueprint[],
  resources: readonly VirtualResource[],
  now: number,
  reclaimIdleMs: number,
  liveOf: (owner: string, resourceType: string) => LiveLeaseCount,
): AllocationView {
  const subject = leaseViewOfVirtual(lease);
  const mine = blueprints.filter((vb) => vb.impl && vb.recorded.resourceType === subject.resourceType && vb.recorded.createdAt <= now);
  const live = resources.filter((r) => r.status !== "ended");
  const candidates: BlueprintCandidate[] = mine.map((vb) => {
    const own = live.filter((r) => r.blueprintId === vb.recorded.blueprintId);
    const view = blueprintViewOfVirtual(vb, own.length);
    const usedLimitSlots = own.flatMap((r) => (r.limitSlot === null ? [] : [r.limitSlot]));
    if (vb.configError !== null) {
      const refused = misconfigured(`its config is invalid: ${vb.configError}`);
      return { blueprint: { ...view, config: {} }, ever: refused, plan: refused, usedLimitSlots };
    }
    const impl = vb.impl!;
    return {
      blueprint: view,
      ever: impl.canEverAllocate(view, subject),
      plan: impl.planResource(view, subject, own.map(resourceViewOfVirtual)),
      usedLimitSlots,
    };
  });
  const resourceCandidates: ResourceCandidate[] = [];
  for (const vb of mine) {
    if (vb.configError !== null) continue;
    const view = blueprintViewOfVirtual(vb, 0);
    for (const r of live.filter((x) => x.blueprintId === vb.recorded.blueprintId)) {
      const resource = resourceViewOfVirtual(r);
      const idleSince = idleSinceOfVirtual(r);
      resourceCandidates.push({
        resource,
        acquire: vb.impl!.canAcquire(view, resource, subject),
        supplemental: vb.impl!.shouldAllocateSupplemental(view, resource, subject),
        usedSlots: [...r.slots.keys()],
        idleSince: idleSince === null ? null : new Date(idleSince),
        hold: null,
      });
    }
  }
  const view: AllocationView = { lease: subject, blueprints: candidates, resources: resourceCandidates, now: new Date(now), reclaimIdleMs };
  // The quota the lease carries, over its owner's live (acquired or active) leases, as the service counts them.
  const quota = lease.recorded.quota;
  return quota ? { ...view, quota: { quota, live: liveOf(subject.owner, subject.resourceType) } } : view;
}

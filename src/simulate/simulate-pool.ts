import type { AllocationView } from "../allocator/decide-allocation";
import { decideInQueue } from "../allocator/decide-in-queue";
import { freeNumber } from "../allocator/decide-allocation";
import type { LeaseView } from "../blueprints/blueprint";
import type { PoolPolicy } from "./policy";
import { applyChange, blueprintViewOfVirtual, resourceViewOfVirtual, viewOfLease, virtualBlueprint, type ImplementationOf, type VirtualBlueprint, type VirtualLease, type VirtualResource } from "./virtual-pool";
import { queueOrder, type BlueprintChange, type Workload } from "./workload";

/**
 * The discrete-event simulation: the recorded arrivals and holds replayed on a virtual clock
 * through the real allocation decision (decideInQueue over views built like the service's). Pure:
 * no clock, no randomness, no I/O; time is the events' own, and ties keep their insertion order,
 * so one workload and policy always give one outcome.
 *
 * At each moment: apply what happens then (arrivals, ends, finished builds, recorded blueprint
 * changes), then let every pending lease decide in queue order, then top up the warm pools.
 * Delays come from the record: a build takes its blueprint's median build time, and a lease
 * activates its blueprint's median allocator latency after its capacity is there (workload.ts).
 */
export interface SimulatedLease {
  leaseId: string;
  requestedAt: number;
  activatedAt: number | null;
  endedAt: number | null;
  ended: "released" | "broken" | "cancelled" | null;
}

export interface SimulatedResource {
  resourceId: string;
  blueprintId: string;
  allocatedAt: number;
  activatedAt: number | null;
  endedAt: number | null;
}

export interface PoolOutcome {
  leases: SimulatedLease[];
  resources: SimulatedResource[];
}

export interface SimulationInput {
  workload: Workload;
  policy: PoolPolicy;
  implementationOf: ImplementationOf;
  /** The service's reclaimIdleMs (default 5 min): idle resources this old may be reclaimed. */
  reclaimIdleMs: number;
}

/** What a lease asks, as far as any predicate or decision can tell: equal ones decide alike. */
function askedOf(lease: VirtualLease): string {
  const r = lease.recorded;
  return JSON.stringify([r.resourceType, r.attributes, r.blueprintIds, r.owner, r.ownerResourceId, r.authorizingObject, r.quota]);
}

/** Leases ahead that a view carries, at most: allocation-snapshot.ts's AHEAD_LIMIT. */
const AHEAD_LIMIT = 50;

type Happening =
  | { kind: "arrive"; lease: VirtualLease }
  | { kind: "end"; lease: VirtualLease; as: "released" | "broken" }
  | { kind: "carried-end"; resource: VirtualResource; slot: number }
  | { kind: "built"; resource: VirtualResource }
  /** The allocator's latency has passed: an acquired lease on an active resource activates. */
  | { kind: "lease-ready"; lease: VirtualLease }
  | { kind: "blueprint"; blueprint: VirtualBlueprint; change: BlueprintChange }
  | { kind: "wake" };

export function simulatePool(input: SimulationInput): PoolOutcome {
  const { workload, policy, implementationOf, reclaimIdleMs } = input;
  const timeline: { at: number; seq: number; what: Happening }[] = [];
  let seq = 0;
  const schedule = (at: number, what: Happening) => {
    const item = { at, seq: seq++, what };
    // Sorted insertion (time, then insertion order): binary search for the first later item.
    let lo = 0;
    let hi = timeline.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (timeline[mid]!.at <= at) lo = mid + 1;
      else hi = mid;
    }
    timeline.splice(lo, 0, item);
  };

  const blueprints = workload.blueprints.map((b) => virtualBlueprint(b, implementationOf, policy));
  const blueprintOf = new Map(blueprints.map((vb) => [vb.recorded.blueprintId, vb]));
  const resources: VirtualResource[] = [];
  const { from } = workload.window;
  let built = 0;

  for (const vb of blueprints) {
    for (const change of vb.recorded.changes) schedule(change.at, { kind: "blueprint", blueprint: vb, change });
    // A blueprint created inside the window: waiting leases look again when it appears.
    if (vb.recorded.createdAt > from) schedule(vb.recorded.createdAt, { kind: "wake" });
  }
  // The initial pool, limit slots numbered in allocation order (more than a lowered limit: none free).
  for (const r of [...workload.initialPool].sort((a, b) => a.allocatedAt - b.allocatedAt || (a.resourceId < b.resourceId ? -1 : 1))) {
    const vb = blueprintOf.get(r.blueprintId);
    const taken = resources.filter((x) => x.blueprintId === r.blueprintId && x.limitSlot !== null).map((x) => x.limitSlot!);
    const resource: VirtualResource = {
      resourceId: r.resourceId,
      blueprintId: r.blueprintId,
      resourceType: vb?.recorded.resourceType ?? "",
      attributes: r.attributes,
      leaseSlots: policy.slots[r.blueprintId] ?? r.leaseSlots,
      status: r.activatedAt !== null && r.activatedAt <= from ? "active" : "pending",
      limitSlot: freeNumber(taken, taken.length + 1),
      allocatedAt: r.allocatedAt,
      activatedAt: r.activatedAt !== null && r.activatedAt <= from ? r.activatedAt : null,
      endedAt: null,
      slots: new Map(),
      lastLeaseEndedAt: null,
    };
    resources.push(resource);
    if (resource.status === "pending") schedule(r.activatedAt ?? from + (vb?.recorded.buildMs ?? 0), { kind: "built", resource });
  }
  const carriedLive = workload.carried;
  for (const c of workload.carried) {
    const resource = resources.find((r) => r.resourceId === c.resourceId);
    if (!resource || c.slot >= resource.leaseSlots) continue; // fewer slots under the policy: the carried lease is over the new count
    resource.slots.set(c.slot, c.leaseId);
    if (c.endsAt !== null) schedule(Math.max(c.endsAt, from), { kind: "carried-end", resource, slot: c.slot });
  }
  const leases: VirtualLease[] = workload.leases.map((recorded) => ({
    recorded,
    priority: policy.priority[recorded.owner] ?? recorded.priority,
    status: "future",
    resourceId: null,
    slot: null,
    activatedAt: null,
    endedAt: null,
    ended: null,
  }));
  for (const lease of leases) schedule(Math.max(lease.recorded.requestedAt, from), { kind: "arrive", lease });
  // The first look, at the window's start: warm pools fill before any lease comes.
  schedule(from, { kind: "wake" });

  const freeSlot = (lease: VirtualLease, at: number) => {
    const r = resources.find((x) => x.resourceId === lease.resourceId);
    if (r && lease.slot !== null && r.slots.get(lease.slot) === lease.recorded.leaseId) {
      r.slots.delete(lease.slot);
      r.lastLeaseEndedAt = at;
    }
  };
  const end = (lease: VirtualLease, at: number, as: "released" | "broken" | "cancelled") => {
    if (lease.status === "ended") return;
    freeSlot(lease, at);
    lease.status = "ended";
    lease.endedAt = at;
    lease.ended = as;
  };
  /** Active: it holds its recorded hold from now (a lease that never ended holds for good). */
  const activate = (lease: VirtualLease, at: number) => {
    lease.status = "active";
    lease.activatedAt = at;
    const r = lease.recorded;
    if (r.activatedAt !== null && r.endedAt !== null && r.endedAt >= r.activatedAt) schedule(at + (r.endedAt - r.activatedAt), { kind: "end", lease, as: r.ended ?? "released" });
  };
  const build = (vb: VirtualBlueprint, limitSlot: number | null, plan: { attributes: Record<string, unknown>; leaseSlots: number }, at: number): VirtualResource => {
    const resource: VirtualResource = {
      resourceId: `sim-${String(++built).padStart(6, "0")}`,
      blueprintId: vb.recorded.blueprintId,
      resourceType: vb.recorded.resourceType,
      attributes: plan.attributes,
      leaseSlots: policy.slots[vb.recorded.blueprintId] ?? plan.leaseSlots,
      status: "pending",
      limitSlot,
      allocatedAt: at,
      activatedAt: null,
      endedAt: null,
      slots: new Map(),
      lastLeaseEndedAt: null,
    };
    resources.push(resource);
    schedule(at + (vb.recorded.buildMs ?? 0), { kind: "built", resource });
    return resource;
  };
  /** An owner's live leases (acquired or active), carried ones included: what a quota counts. */
  const liveOf = (owner: string, resourceType: string) => {
    let total = 0;
    let ofType = 0;
    for (const l of leases) {
      if ((l.status === "acquired" || l.status === "active") && l.recorded.owner === owner) {
        total++;
        if (l.recorded.resourceType === resourceType) ofType++;
      }
    }
    for (const c of carriedLive) {
      if (c.owner === owner && resources.find((r) => r.resourceId === c.resourceId)?.slots.get(c.slot) === c.leaseId) {
        total++;
        if (c.resourceType === resourceType) ofType++;
      }
    }
    return { total, ofType };
  };
  /** Capacity is there for an acquired lease: it activates after its blueprint's recorded latency. */
  const ready = (lease: VirtualLease, resource: VirtualResource, at: number) => {
    const latency = blueprintOf.get(resource.blueprintId)?.recorded.latencyMs ?? 0;
    if (latency === 0) activate(lease, at);
    else schedule(at + latency, { kind: "lease-ready", lease });
  };
  const acquire = (lease: VirtualLease, resource: VirtualResource, slot: number, at: number) => {
    resource.slots.set(slot, lease.recorded.leaseId);
    lease.resourceId = resource.resourceId;
    lease.slot = slot;
    lease.status = "acquired";
    if (resource.status === "active") ready(lease, resource, at);
  };

  /**
   * Pending leases decide in queue order, each through decideInQueue with the leases still waiting
   * ahead of it: all of them when capacity may have grown (`full`), else only those that just
   * arrived. What is left out changes no decision, because decideAllocation is monotone in
   * capacity (fewer free slots, more used limit slots, fewer idle resources never open a choice):
   * - a lease that waited on this very capacity, or on more, takes nothing on paper, so the ahead
   *   list carries only waiters from before the last change in this pass, and none from earlier
   *   passes when nothing has freed since (an arrival only takes capacity);
   * - a lease asking exactly what a lease that just waited on the same capacity asked (type,
   *   attributes, blueprints, owner, quota) waits too, without deciding again.
   * Without these a long queue costs a quadratic number of decisions at every moment.
   */
  const allocate = (now: number, full: boolean, arrived: ReadonlySet<VirtualLease>) => {
    for (;;) {
      const queue = leases
        .filter((l) => l.status === "pending" && (full || arrived.has(l)))
        .sort((a, b) => queueOrder({ ...a.recorded, priority: a.priority }, { ...b.recorded, priority: b.priority }));
      const views = new Map<VirtualLease, AllocationView>();
      const viewOf = (l: VirtualLease) => views.get(l) ?? views.set(l, viewOfLease(l, blueprints, resources, now, reclaimIdleMs, liveOf)).get(l)!;
      const waiting: { lease: VirtualLease; epoch: number }[] = [];
      const waitedAsked = new Set<string>();
      let epoch = 0;
      const changed = () => {
        epoch++;
        views.clear();
        waitedAsked.clear();
      };
      let reclaimed = false;
      for (const lease of queue) {
        const asked = askedOf(lease);
        if (waitedAsked.has(asked)) {
          waiting.push({ lease, epoch });
          continue;
        }
        const ahead = waiting
          .filter((w) => w.epoch !== epoch)
          .slice(0, AHEAD_LIMIT)
          .map((w) => ({ leaseId: w.lease.recorded.leaseId, view: viewOf(w.lease) }));
        const d = decideInQueue({ ...viewOf(lease), ahead }).decision;
        switch (d.kind) {
          case "acquire":
            acquire(lease, resources.find((r) => r.resourceId === d.resourceId)!, d.slot, now);
            changed();
            break;
          case "allocate":
            acquire(lease, build(blueprintOf.get(d.blueprintId)!, d.limitSlot, d.plan, now), 0, now);
            changed();
            break;
          case "reclaim": {
            const victim = resources.find((r) => r.resourceId === d.resourceId)!;
            victim.status = "ended";
            victim.endedAt = now;
            reclaimed = true;
            break;
          }
          case "wait":
            waiting.push({ lease, epoch });
            waitedAsked.add(asked);
            break;
          case "break":
            end(lease, now, "broken");
            break;
          default: {
            const never: never = d;
            throw new Error(`unknown decision ${JSON.stringify(never)}`);
          }
        }
        // A reclaim frees a limit slot: every waiter decides again, from the front of the queue.
        if (reclaimed) break;
      }
      if (!reclaimed) return;
      full = true;
    }
  };

  /** Warm pools (--min-ready, or the recorded minReady): build idle resources up to it, within the limit. */
  const keepWarm = (now: number): number => {
    let warmed = 0;
    for (const [blueprintId, vb] of blueprintOf) {
      const wanted = vb.minReady ?? 0;
      if (wanted <= 0 || !vb.impl || vb.configError !== null || !vb.enabled || vb.recorded.createdAt > now) continue;
      for (;;) {
        const own = resources.filter((r) => r.blueprintId === blueprintId && r.status !== "ended");
        if (own.filter((r) => r.slots.size === 0).length >= wanted) break;
        const used = own.flatMap((r) => (r.limitSlot === null ? [] : [r.limitSlot]));
        const limitSlot = vb.resourceLimit === null ? null : freeNumber(used, vb.resourceLimit);
        if (vb.resourceLimit !== null && limitSlot === null) break;
        const warm: LeaseView = { leaseId: "warm-pool", resourceType: vb.recorded.resourceType, attributes: {}, owner: "drydock", ownerResourceId: null, authorizingObject: null };
        const plan = vb.impl.planResource(blueprintViewOfVirtual(vb, own.length), warm, own.map(resourceViewOfVirtual));
        if (!("leaseSlots" in plan)) break;
        build(vb, limitSlot, plan, now);
        warmed++;
      }
    }
    return warmed;
  };

  const wakes = new Set<number>();
  while (timeline.length > 0) {
    const now = timeline[0]!.at;
    // Only arrivals (and activations) at this moment: capacity cannot have grown, only they decide.
    const arrived = new Set<VirtualLease>();
    let full = false;
    while (timeline.length > 0 && timeline[0]!.at === now) {
      const { what } = timeline.shift()!;
      if (what.kind !== "arrive" && what.kind !== "lease-ready") full = true;
      switch (what.kind) {
        case "arrive": {
          const r = what.lease.recorded;
          what.lease.status = "pending";
          arrived.add(what.lease);
          // Recorded as ending before it ever activated (cancelled, or broken while waiting): it gives up at the same time.
          if (r.endedAt !== null && r.activatedAt === null) schedule(Math.max(r.endedAt, now), { kind: "end", lease: what.lease, as: r.ended ?? "released" });
          break;
        }
        case "end":
          // Not active yet: it gave up waiting (a cancel), unless the record has it broken while waiting.
          end(what.lease, now, what.lease.status === "active" || what.as === "broken" ? what.as : "cancelled");
          break;
        case "carried-end":
          if (what.resource.slots.has(what.slot)) {
            what.resource.slots.delete(what.slot);
            what.resource.lastLeaseEndedAt = now;
          }
          break;
        case "built":
          if (what.resource.status !== "pending") break;
          what.resource.status = "active";
          what.resource.activatedAt = now;
          for (const lease of leases) if (lease.status === "acquired" && lease.resourceId === what.resource.resourceId) ready(lease, what.resource, now);
          break;
        case "lease-ready":
          if (what.lease.status === "acquired") activate(what.lease, now);
          break;
        case "blueprint":
          applyChange(what.blueprint, what.change, policy);
          break;
        case "wake":
          break;
        default: {
          const never: never = what;
          throw new Error(`unknown happening ${JSON.stringify(never)}`);
        }
      }
    }
    allocate(now, full, arrived);
    // New warm resources are capacity for every waiter.
    if (keepWarm(now) > 0) allocate(now, true, arrived);
    // Leases still waiting may take an idle resource once it is old enough to reclaim: look again then.
    if (leases.some((l) => l.status === "pending")) {
      const due = resources
        .map((r) => (r.status === "active" && r.slots.size === 0 ? Math.max(r.activatedAt!, r.lastLeaseEndedAt ?? 0) + reclaimIdleMs : Infinity))
        .filter((at) => at > now && at !== Infinity);
      const next = due.length > 0 ? Math.min(...due) : null;
      if (next !== null && !wakes.has(next)) {
        wakes.add(next);
        schedule(next, { kind: "wake" });
      }
    }
  }
  return {
    leases: leases.map((l) => ({ leaseId: l.recorded.leaseId, requestedAt: l.recorded.requestedAt, activatedAt: l.activatedAt, endedAt: l.endedAt, ended: l.ended })),
    resources: resources.map((r) => ({ resourceId: r.resourceId, blueprintId: r.blueprintId, allocatedAt: r.allocatedAt, activatedAt: r.activatedAt, endedAt: r.endedAt })),
  };
}

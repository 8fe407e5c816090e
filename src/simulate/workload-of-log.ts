import type { RecordedEvent } from "../../events/envelope";
import type { BlueprintEventData } from "../../events/blueprint-events";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { parseStreamId } from "../../events/envelope";
import type { BlueprintChange, CarriedLease, SimulationWindow, Workload, WorkloadBlueprint, WorkloadLease, WorkloadResource } from "./workload";

/**
 * Folds the log, in position order, into a Workload for one window. Pure and incremental: the
 * caller feeds it batches (read-workload.ts), so a long log is never held in memory as events,
 * only as one small record per lease, resource and blueprint.
 *
 * Times are the events' recordedAt. A lease's wait is LeaseActivated − LeaseRequested; its hold
 * LeaseReleased (or LeaseBroken) − LeaseActivated.
 */
interface LeaseRecord extends WorkloadLease {
  resourceId: string | null;
  slot: number | null;
  blueprintId: string | null;
  acquiredAt: number | null;
  /** When its slot was last given back before it took it (it queued for that release). */
  slotFreedAt: number | null;
}

interface BlueprintRecord {
  blueprintId: string;
  name: string;
  kind: string;
  resourceType: string;
  createdAt: number;
  /** Each version of its settings, in log order: [0] is BlueprintCreated's. */
  history: BlueprintChange[];
}

export class WorkloadOfLog {
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly resources = new Map<string, WorkloadResource>();
  private readonly blueprints = new Map<string, BlueprintRecord>();
  /** `resourceId:slot` → when the last lease on it ended. */
  private readonly slotFreed = new Map<string, number>();
  /** Blueprint id → allocator latency samples (see WorkloadBlueprint.latencyMs). */
  private readonly latencies = new Map<string, number[]>();

  add(event: RecordedEvent): void {
    const { type: stream, id } = parseStreamId(event.streamId);
    const at = event.recordedAt.getTime();
    switch (stream) {
      case "lease":
        return this.addLease(id, event, at);
      case "resource":
        return this.addResource(id, event, at);
      case "blueprint":
        return this.addBlueprint(id, event, at);
      case "token":
      case "authorization":
        return;
      default: {
        const never: never = stream;
        throw new Error(`unknown stream type ${String(never)}`);
      }
    }
  }

  private addLease(id: string, event: RecordedEvent, at: number): void {
    if (event.type === "LeaseRequested") {
      const d = event.data as LeaseEventData<"LeaseRequested">;
      this.leases.set(id, {
        leaseId: id,
        resourceType: d.resourceType,
        attributes: d.attributes,
        blueprintIds: d.blueprintIds,
        owner: d.owner,
        ownerResourceId: d.ownerResourceId,
        authorizingObject: d.authorizingObject ?? null,
        priority: d.priority ?? 0,
        quota: d.quota ?? null,
        requestedAt: at,
        activatedAt: null,
        endedAt: null,
        ended: null,
        resourceId: null,
        slot: null,
        blueprintId: null,
        acquiredAt: null,
        slotFreedAt: null,
      });
      return;
    }
    const lease = this.leases.get(id);
    if (!lease) return;
    switch (event.type) {
      case "LeaseAcquired": {
        const d = event.data as LeaseEventData<"LeaseAcquired">;
        lease.resourceId = d.resourceId;
        lease.slot = d.slot;
        lease.blueprintId = d.blueprintId;
        lease.acquiredAt = at;
        lease.slotFreedAt = this.slotFreed.get(`${d.resourceId}:${d.slot}`) ?? null;
        return;
      }
      case "LeaseReacquiring":
        lease.resourceId = null;
        lease.slot = null;
        lease.acquiredAt = null;
        return;
      case "LeaseActivated": {
        if (lease.activatedAt !== null) return;
        lease.activatedAt = at;
        // Capacity was there at the latest of: its request, its slot's release, its resource's activation.
        const resourceActive = lease.resourceId === null ? null : (this.resources.get(lease.resourceId)?.activatedAt ?? null);
        const ready = Math.max(lease.requestedAt, lease.slotFreedAt ?? -Infinity, resourceActive ?? -Infinity);
        if (lease.blueprintId !== null && resourceActive !== null && at >= ready) {
          const samples = this.latencies.get(lease.blueprintId) ?? [];
          samples.push(at - ready);
          this.latencies.set(lease.blueprintId, samples);
        }
        return;
      }
      case "LeaseReleased":
      case "LeaseBroken":
        if (lease.endedAt === null) {
          lease.endedAt = at;
          lease.ended = event.type === "LeaseReleased" ? "released" : "broken";
          if (lease.resourceId !== null && lease.slot !== null) this.slotFreed.set(`${lease.resourceId}:${lease.slot}`, at);
        }
        return;
      case "LeaseQuotaChanged":
        // TODO: a quota changed while the lease waited (an admin's PATCH of its token) is not
        // replayed at its time: the simulation judges the lease by the quota it asked with.
        return;
      default:
        return;
    }
  }

  private addResource(id: string, event: RecordedEvent, at: number): void {
    if (event.type === "ResourceAllocated") {
      const d = event.data as ResourceEventData<"ResourceAllocated">;
      this.resources.set(id, { resourceId: id, blueprintId: d.blueprintId, attributes: d.attributes, leaseSlots: d.leaseSlots, allocatedAt: at, activatedAt: null, endedAt: null });
      return;
    }
    const resource = this.resources.get(id);
    if (!resource) return;
    switch (event.type) {
      case "ResourceActivated":
        resource.activatedAt ??= at;
        return;
      case "ResourceReleased":
      case "ResourceBroken":
        resource.endedAt ??= at;
        return;
      default:
        return;
    }
  }

  private addBlueprint(id: string, event: RecordedEvent, at: number): void {
    switch (event.type) {
      case "BlueprintCreated": {
        const d = event.data as BlueprintEventData<"BlueprintCreated">;
        this.blueprints.set(id, {
          blueprintId: id,
          name: d.name,
          kind: d.kind,
          resourceType: d.resourceType,
          createdAt: at,
          history: [{ at, name: d.name, config: d.config, resourceLimit: d.resourceLimit, minReady: d.minReady ?? null, enabled: true }],
        });
        return;
      }
      case "BlueprintUpdated": {
        const d = event.data as BlueprintEventData<"BlueprintUpdated">;
        this.blueprints.get(id)?.history.push({ at, ...d });
        return;
      }
      case "BlueprintDisabled":
        this.blueprints.get(id)?.history.push({ at, enabled: false });
        return;
      case "BlueprintEnabled":
        this.blueprints.get(id)?.history.push({ at, enabled: true });
        return;
      default:
        return;
    }
  }

  workload(window: SimulationWindow): Workload {
    const { from, to } = window;
    const liveAt = (start: number, end: number | null) => start < from && (end === null || end > from);
    const leases = [...this.leases.values()].filter(
      // Requested inside the window, or still pending (not acquired, not ended) when it opened.
      (l) => (l.requestedAt >= from && l.requestedAt < to) || (l.requestedAt < from && (l.endedAt === null || l.endedAt > from) && (l.acquiredAt === null || l.acquiredAt >= from)),
    );
    const initialPool = [...this.resources.values()].filter((r) => liveAt(r.allocatedAt, r.endedAt));
    const initialIds = new Set(initialPool.map((r) => r.resourceId));
    const carried: CarriedLease[] = [...this.leases.values()]
      .filter((l) => l.resourceId !== null && l.slot !== null && initialIds.has(l.resourceId) && l.acquiredAt! < from && (l.endedAt === null || l.endedAt > from))
      .map((l) => ({ leaseId: l.leaseId, owner: l.owner, resourceType: l.resourceType, resourceId: l.resourceId!, slot: l.slot!, endsAt: l.endedAt }));
    const resources = [...this.resources.values()].filter((r) => r.allocatedAt < to && (r.endedAt === null || r.endedAt > from));
    const blueprints = [...this.blueprints.values()].filter((b) => b.createdAt < to).map((b) => this.blueprintAsOf(b, from, to));
    const plain = (l: LeaseRecord): WorkloadLease => {
      const { resourceId: _r, slot: _s, blueprintId: _b, acquiredAt: _a, slotFreedAt: _f, ...lease } = l;
      return lease;
    };
    return { window, blueprints, leases: leases.map(plain), initialPool, carried, resources };
  }

  /** Settings folded up to the window's start; later changes (before its end) kept as changes. */
  private blueprintAsOf(b: BlueprintRecord, from: number, to: number): WorkloadBlueprint {
    let name = b.name;
    let config: Record<string, unknown> = {};
    let resourceLimit: number | null = null;
    let minReady: number | null = null;
    let enabled = true;
    const changes: BlueprintChange[] = [];
    b.history.forEach((c, i) => {
      if (i === 0 || c.at <= from) {
        name = c.name ?? name;
        config = c.config ?? config;
        resourceLimit = c.resourceLimit !== undefined ? c.resourceLimit : resourceLimit;
        minReady = c.minReady !== undefined ? c.minReady : minReady;
        enabled = c.enabled ?? enabled;
      } else if (c.at < to) changes.push(c);
    });
    const builds = [...this.resources.values()]
      .filter((r) => r.blueprintId === b.blueprintId && r.activatedAt !== null)
      .map((r) => r.activatedAt! - r.allocatedAt)
      .sort((x, y) => x - y);
    const latencies = [...(this.latencies.get(b.blueprintId) ?? [])].sort((x, y) => x - y);
    return {
      blueprintId: b.blueprintId,
      name,
      kind: b.kind,
      resourceType: b.resourceType,
      config,
      resourceLimit,
      minReady,
      enabled,
      createdAt: b.createdAt,
      changes,
      buildMs: median(builds),
      builds: builds.length,
      latencyMs: median(latencies),
      activations: latencies.length,
    };
  }
}

/** The lower median of sorted values; null for none. */
function median(sorted: readonly number[]): number | null {
  return sorted.length === 0 ? null : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

import type { AnyMachineSnapshot } from "xstate";
import type { BlueprintEventData } from "../../events/blueprint-events";
import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { blueprintFolder, leaseFolder, resourceFolder, toMachineEvent } from "../machines/fold";

/**
 * Checks the invariants of a whole log, read in global-position order (pure):
 * every transition legal by its machine; no resource ever over its lease slots; no blueprint
 * ever over its resource limit when it built; stream versions without gaps; and, at the end,
 * every ended lease and resource destroyed.
 */
export interface Violation {
  rule: "illegal-transition" | "stream-gap" | "resource-over-slots" | "blueprint-over-limit" | "not-destroyed";
  streamId: string;
  globalPosition: number | null;
  message: string;
}

export interface VerifyReport {
  events: number;
  streams: number;
  violations: Violation[];
  peakLeasesPerResource: Record<string, number>;
  peakResourcesPerBlueprint: Record<string, number>;
}

const folders = { lease: leaseFolder, resource: resourceFolder, blueprint: blueprintFolder } as const;

export function verifyLog(events: Iterable<RecordedEvent>): VerifyReport {
  const violations: Violation[] = [];
  const snapshots = new Map<string, { snap: AnyMachineSnapshot; version: number; broken: boolean }>();
  const slots = new Map<string, number>();
  const liveLeases = new Map<string, number>();
  const leaseOn = new Map<string, string>();
  const limits = new Map<string, number | null>();
  const liveResources = new Map<string, number>();
  const resourceBlueprint = new Map<string, string>();
  const peakLeases: Record<string, number> = {};
  const peakResources: Record<string, number> = {};
  let count = 0;

  for (const e of events) {
    count++;
    const kind = e.streamId.slice(0, e.streamId.indexOf("-")) as keyof typeof folders;
    const folder = folders[kind];
    if (!folder) continue;
    let entry = snapshots.get(e.streamId);
    if (!entry) {
      entry = { snap: folder.start(), version: 0, broken: false };
      snapshots.set(e.streamId, entry);
    }
    if (e.streamVersion !== entry.version + 1) {
      violations.push({ rule: "stream-gap", streamId: e.streamId, globalPosition: e.globalPosition, message: `version ${e.streamVersion} follows ${entry.version}` });
    }
    entry.version = e.streamVersion;
    if (entry.broken) continue;
    const event = toMachineEvent(e);
    if (!folder.can(entry.snap, event)) {
      violations.push({
        rule: "illegal-transition",
        streamId: e.streamId,
        globalPosition: e.globalPosition,
        message: `${e.type} (version ${e.streamVersion}) is not allowed when ${String(entry.snap.value)}`,
      });
      entry.broken = true;
      continue;
    }
    const before = String(entry.snap.value);
    entry.snap = folder.step(entry.snap, event, e);

    const id = e.streamId.slice(e.streamId.indexOf("-") + 1);
    switch (e.type) {
      case "BlueprintCreated":
        limits.set(id, (e.data as BlueprintEventData<"BlueprintCreated">).resourceLimit);
        break;
      case "BlueprintUpdated": {
        const d = e.data as BlueprintEventData<"BlueprintUpdated">;
        if (d.resourceLimit !== undefined) limits.set(id, d.resourceLimit);
        break;
      }
      case "ResourceAllocated": {
        const d = e.data as ResourceEventData<"ResourceAllocated">;
        slots.set(id, d.leaseSlots);
        resourceBlueprint.set(id, d.blueprintId);
        const n = (liveResources.get(d.blueprintId) ?? 0) + 1;
        liveResources.set(d.blueprintId, n);
        peakResources[d.blueprintId] = Math.max(peakResources[d.blueprintId] ?? 0, n);
        const limit = limits.get(d.blueprintId) ?? null;
        if (limit !== null && n > limit) {
          violations.push({ rule: "blueprint-over-limit", streamId: e.streamId, globalPosition: e.globalPosition, message: `blueprint ${d.blueprintId} has ${n} live resources, limit ${limit}` });
        }
        break;
      }
      case "ResourceDestroyed": {
        const bp = resourceBlueprint.get(id)!;
        liveResources.set(bp, (liveResources.get(bp) ?? 1) - 1);
        break;
      }
      case "LeaseAcquired": {
        const d = e.data as LeaseEventData<"LeaseAcquired">;
        leaseOn.set(id, d.resourceId);
        const n = (liveLeases.get(d.resourceId) ?? 0) + 1;
        liveLeases.set(d.resourceId, n);
        peakLeases[d.resourceId] = Math.max(peakLeases[d.resourceId] ?? 0, n);
        const max = slots.get(d.resourceId);
        if (max !== undefined && n > max) {
          violations.push({ rule: "resource-over-slots", streamId: e.streamId, globalPosition: e.globalPosition, message: `resource ${d.resourceId} has ${n} live leases, ${max} slots` });
        }
        break;
      }
      case "LeaseReleased":
      case "LeaseBroken":
      case "LeaseReacquiring": {
        const resource = leaseOn.get(id);
        if (resource && (before === "acquired" || before === "active")) {
          liveLeases.set(resource, (liveLeases.get(resource) ?? 1) - 1);
          leaseOn.delete(id);
        }
        break;
      }
    }
  }

  for (const [streamId, entry] of snapshots) {
    const status = String(entry.snap.value);
    if (!entry.broken && (status === "released" || status === "broken")) {
      violations.push({ rule: "not-destroyed", streamId, globalPosition: null, message: `ended ${status} but never destroyed` });
    }
  }
  return { events: count, streams: snapshots.size, violations, peakLeasesPerResource: peakLeases, peakResourcesPerBlueprint: peakResources };
}

import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { CapacityConflictError } from "../../src/domain/errors";
import type { BatchProjection, RowSet } from "./row-set";
import { MissingRowError } from "./row-table";

/**
 * The batch form of projections/capacity-projection.ts: slot locks taken and freed in log order
 * (in memory, so a slot taken and freed a thousand times in one rebuild is never written), and
 * live resources per blueprint.
 */
export const capacityRows: BatchProjection = {
  name: "capacity",
  claim(rows, event: RecordedEvent) {
    switch (event.type) {
      case "LeaseAcquired":
        return takeLocks(rows, event.streamId, (event.data as LeaseEventData<"LeaseAcquired">).locks);
      case "ResourceAllocated":
        return takeLocks(rows, event.streamId, (event.data as ResourceEventData<"ResourceAllocated">).locks);
      case "LeaseReleased":
      case "LeaseBroken":
      case "LeaseReacquiring":
      case "ResourceDestroyed":
        return freeLocks(rows, event.streamId);
      default:
        return;
    }
  },
  apply(rows, event: RecordedEvent) {
    switch (event.type) {
      case "ResourceAllocated": {
        const d = event.data as ResourceEventData<"ResourceAllocated">;
        addLiveResources(rows, d.blueprintId, 1);
        return;
      }
      case "ResourceDestroyed": {
        const id = event.streamId.slice("resource-".length);
        const resource = rows.resources.get(id);
        if (!resource) throw new MissingRowError("resources", id, event.type);
        addLiveResources(rows, resource.blueprint_id, -1);
        return;
      }
      default:
        return;
    }
  },
};

function addLiveResources(rows: RowSet, blueprintId: string, delta: number): void {
  const blueprint = rows.blueprints.get(blueprintId);
  if (blueprint) rows.blueprints.update(blueprintId, { live_resources: blueprint.live_resources + delta });
}

/** As the projection's INSERT … ON CONFLICT DO NOTHING: any lock already held (even by this event) is a conflict. */
function takeLocks(rows: RowSet, owner: string, locks: readonly string[]): void {
  const conflicts: string[] = [];
  for (let i = 0; i < locks.length; i++) {
    if (rows.slot_locks.has(locks[i]!) || locks.indexOf(locks[i]!) !== i) conflicts.push(locks[i]!);
  }
  if (conflicts.length > 0) throw new CapacityConflictError(conflicts);
  if (locks.length === 0) return;
  let held = rows.locksByOwner.get(owner);
  if (!held) rows.locksByOwner.set(owner, (held = new Set()));
  for (const lock of locks) {
    rows.slot_locks.insert(lock, { lock_key: lock, owner_stream_id: owner });
    held.add(lock);
  }
}

function freeLocks(rows: RowSet, owner: string): void {
  const held = rows.locksByOwner.get(owner);
  if (!held) return;
  for (const lock of held) rows.slot_locks.delete(lock);
  rows.locksByOwner.delete(owner);
}

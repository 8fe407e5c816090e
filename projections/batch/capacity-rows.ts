import type { RecordedEvent } from "../../events/envelope";
import { liveResourcesChange, lockChange } from "../capacity-changes";
import { CapacityConflictError } from "../../src/domain/errors";
import { leaseSlotPrefix, lockOwner, scopeOfLock } from "../../src/allocator/slot-keys";
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
    const change = lockChange(event);
    if (!change) return;
    if ("take" in change) return takeLocks(rows, event.streamId, change.take);
    freeLocks(rows, event.streamId, "freeSlotsOf" in change ? leaseSlotPrefix(change.freeSlotsOf) : null);
  },
  apply(rows, event: RecordedEvent) {
    const change = liveResourcesChange(event);
    if (!change) return;
    let blueprintId: string;
    if ("blueprintId" in change) {
      blueprintId = change.blueprintId;
    } else {
      const resource = rows.resources.get(change.resourceId);
      if (!resource) throw new MissingRowError("resources", change.resourceId, event.type);
      blueprintId = resource.blueprint_id;
    }
    addLiveResources(rows, blueprintId, change.delta);
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
  for (const lock of locks) {
    const lockedBy = lockOwner(lock, owner);
    let held = rows.locksByOwner.get(lockedBy);
    if (!held) rows.locksByOwner.set(lockedBy, (held = new Set()));
    rows.slot_locks.insert(lock, { lock_key: lock, owner_stream_id: lockedBy, scope_id: scopeOfLock(lock) });
    held.add(lock);
  }
}

/** The owner's locks, or only those starting with `prefix` (a resource's own lease slots, which a hold takes). */
function freeLocks(rows: RowSet, owner: string, prefix: string | null): void {
  const held = rows.locksByOwner.get(owner);
  if (!held) return;
  for (const lock of held) {
    if (prefix !== null && !lock.startsWith(prefix)) continue;
    rows.slot_locks.delete(lock);
    held.delete(lock);
  }
  if (held.size === 0) rows.locksByOwner.delete(owner);
}

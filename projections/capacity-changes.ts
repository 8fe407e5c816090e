import type { RecordedEvent } from "../events/envelope";
import type { LeaseEventData } from "../events/lease-events";
import type { ResourceEventData } from "../events/resource-events";

/**
 * What an event does to the capacity view, decided once for the inline projection and its batch
 * form: the slot locks its stream takes or frees, and the change to its blueprint's live resources.
 */
export type LockChange = { take: readonly string[] } | { free: true } | { freeSlotsOf: string } | null;

export function lockChange(event: Pick<RecordedEvent, "type" | "data" | "streamId">): LockChange {
  switch (event.type) {
    case "LeaseAcquired":
      return { take: (event.data as LeaseEventData<"LeaseAcquired">).locks };
    case "ResourceAllocated":
      return { take: (event.data as ResourceEventData<"ResourceAllocated">).locks };
    case "ResourceHeld":
      return { take: (event.data as ResourceEventData<"ResourceHeld">).locks ?? [] };
    // The hold's slot locks: the resource's own lease slots it took (its blueprint slot stays).
    case "ResourceHoldReleased":
      return { freeSlotsOf: resourceIdOfSlotOwner(event) };
    // A lease holds its slot until it ends or goes back to pending; a resource holds its
    // blueprint slot until destroyed (a released cloud instance costs until it is gone).
    case "LeaseReleased":
    case "LeaseBroken":
    case "LeaseReacquiring":
    case "ResourceDestroyed":
      return { free: true };
    default:
      return null;
  }
}

/** +1 for the blueprint a resource is allocated from; -1, on the resource's own blueprint, when it is destroyed. */
export function liveResourcesChange(event: Pick<RecordedEvent, "type" | "data" | "streamId">): { blueprintId: string; delta: 1 } | { resourceId: string; delta: -1 } | null {
  switch (event.type) {
    case "ResourceAllocated":
      return { blueprintId: (event.data as ResourceEventData<"ResourceAllocated">).blueprintId, delta: 1 };
    case "ResourceDestroyed":
      return { resourceId: event.streamId.slice("resource-".length), delta: -1 };
    default:
      return null;
  }
}

function resourceIdOfSlotOwner(event: Pick<RecordedEvent, "streamId">): string {
  return event.streamId.slice("resource-".length);
}

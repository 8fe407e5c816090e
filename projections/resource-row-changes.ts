import type { Selectable } from "kysely";
import type { ProjectedEvent } from "../src/store/projection";
import type { ResourceEventData } from "../events/resource-events";
import type { ResourcesTable } from "../src/store/schema";
import type { RowChange } from "./row-change";

export type ResourceRow = Selectable<ResourcesTable>;
export const RESOURCE_JSON_COLUMNS = ["attributes"] as const;

/** What a resource event does to its `resources` row (null: nothing); the one definition of that row. */
export function resourceRowChange(event: ProjectedEvent): RowChange<ResourceRow> | null {
  const base = { version: event.streamVersion, updated_at: event.recordedAt };
  switch (event.type) {
    case "ResourceAllocated": {
      const d = event.data as ResourceEventData<"ResourceAllocated">;
      return {
        insert: {
          resource_id: d.resourceId,
          blueprint_id: d.blueprintId,
          resource_type: d.resourceType,
          status: "pending",
          attributes: d.attributes,
          lease_slots: d.leaseSlots,
          for_lease_id: d.forLeaseId,
          end_reason: null,
          retry_at: null,
          failures: 0,
          allocated_at: event.recordedAt,
          activated_at: null,
          ended_at: null,
          suspect_reason: null,
          hold_reason: null,
          hold_until: null,
          hold_by: null,
          hold_lease_id: null,
          held_at: null,
          destroy_deferred: false,
          ...base,
        },
      };
    }
    case "ResourceActivated": {
      const d = event.data as ResourceEventData<"ResourceActivated">;
      return {
        derive: (row) => ({
          ...base,
          status: "active",
          attributes: { ...(row.attributes as Record<string, unknown>), ...d.attributes },
          activated_at: event.recordedAt,
          retry_at: null,
          failures: 0,
        }),
      };
    }
    case "ResourceActivationYielded": {
      const d = event.data as ResourceEventData<"ResourceActivationYielded">;
      return { set: { ...base, retry_at: new Date(d.retryAt), failures: d.attempt } };
    }
    case "ResourceReleased":
    case "ResourceBroken": {
      const d = event.data as ResourceEventData<"ResourceReleased">;
      return { set: { ...base, status: event.type === "ResourceReleased" ? "released" : "broken", end_reason: d.reason, ended_at: event.recordedAt, retry_at: null, suspect_reason: null } };
    }
    case "ResourceDestroyed":
      return { set: { ...base, status: "destroyed" } };
    case "ResourceSuspected":
      return { set: { ...base, suspect_reason: (event.data as ResourceEventData<"ResourceSuspected">).reason } };
    case "ResourceRecovered":
      return { set: { ...base, suspect_reason: null } };
    case "ResourceHeld": {
      const d = event.data as ResourceEventData<"ResourceHeld">;
      return { set: { ...base, hold_reason: d.reason, hold_until: d.until === null ? null : new Date(d.until), hold_by: d.by, hold_lease_id: d.leaseId, held_at: event.recordedAt } };
    }
    case "ResourceHoldReleased":
      return { set: { ...base, hold_reason: null, hold_until: null, hold_by: null, hold_lease_id: null, held_at: null } };
    case "ResourceDestroyDeferred":
      return { set: { ...base, destroy_deferred: true } };
    default:
      return null;
  }
}

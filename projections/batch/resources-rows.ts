import type { RecordedEvent } from "../../events/envelope";
import type { ResourceEventData } from "../../events/resource-events";
import type { BatchProjection } from "./row-set";
import { MissingRowError } from "./row-table";

/** The batch form of projections/resources-projection.ts: the same `resources` rows, in memory. */
export const resourcesRows: BatchProjection = {
  name: "resources",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("resource-")) return;
    const id = event.streamId.slice("resource-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "ResourceAllocated": {
        const d = event.data as ResourceEventData<"ResourceAllocated">;
        rows.resources.insert(d.resourceId, {
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
          ...base,
        });
        return;
      }
      case "ResourceActivated": {
        const d = event.data as ResourceEventData<"ResourceActivated">;
        const row = rows.resources.get(id);
        if (!row) throw new MissingRowError("resources", id, event.type);
        rows.resources.update(id, base, { status: "active", attributes: { ...row.attributes, ...d.attributes }, activated_at: event.recordedAt, retry_at: null, failures: 0 });
        return;
      }
      case "ResourceActivationYielded": {
        const d = event.data as ResourceEventData<"ResourceActivationYielded">;
        rows.resources.update(id, base, { retry_at: new Date(d.retryAt), failures: d.attempt });
        return;
      }
      case "ResourceReleased":
      case "ResourceBroken": {
        const d = event.data as ResourceEventData<"ResourceReleased">;
        rows.resources.update(id, base, { status: event.type === "ResourceReleased" ? "released" : "broken", end_reason: d.reason, ended_at: event.recordedAt, retry_at: null });
        return;
      }
      case "ResourceDestroyed":
        rows.resources.update(id, base, { status: "destroyed" });
        return;
      default:
        return;
    }
  },
};

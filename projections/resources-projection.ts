import type { RecordedEvent } from "../events/envelope";
import type { ResourceEventData } from "../events/resource-events";
import type { InlineProjection } from "../src/store/projection";

/** The `resources` table: status, attributes and lease slots of every resource. */
export const resourcesProjection: InlineProjection = {
  name: "resources",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("resource-")) return;
    const id = event.streamId.slice("resource-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    const update = (set: Record<string, unknown>) =>
      db
        .updateTable("resources")
        .set({ ...base, ...set })
        .where("resource_id", "=", id)
        .execute();
    switch (event.type) {
      case "ResourceAllocated": {
        const d = event.data as ResourceEventData<"ResourceAllocated">;
        await db
          .insertInto("resources")
          .values({
            resource_id: d.resourceId,
            blueprint_id: d.blueprintId,
            resource_type: d.resourceType,
            status: "pending",
            attributes: JSON.stringify(d.attributes),
            lease_slots: d.leaseSlots,
            for_lease_id: d.forLeaseId,
            failures: 0,
            allocated_at: event.recordedAt,
            ...base,
          })
          .execute();
        return;
      }
      case "ResourceActivated": {
        const d = event.data as ResourceEventData<"ResourceActivated">;
        const row = await db.selectFrom("resources").select("attributes").where("resource_id", "=", id).executeTakeFirstOrThrow();
        await update({
          status: "active",
          attributes: JSON.stringify({ ...(row.attributes as Record<string, unknown>), ...d.attributes }),
          activated_at: event.recordedAt,
          retry_at: null,
          failures: 0,
        });
        return;
      }
      case "ResourceActivationYielded": {
        const d = event.data as ResourceEventData<"ResourceActivationYielded">;
        await update({ retry_at: new Date(d.retryAt), failures: d.attempt });
        return;
      }
      case "ResourceReleased":
      case "ResourceBroken": {
        const d = event.data as ResourceEventData<"ResourceReleased">;
        await update({
          status: event.type === "ResourceReleased" ? "released" : "broken",
          end_reason: d.reason,
          ended_at: event.recordedAt,
          retry_at: null,
        });
        return;
      }
      case "ResourceDestroyed":
        await update({ status: "destroyed" });
        return;
      default:
        return;
    }
  },
};

import type { BlueprintEventData } from "../events/blueprint-events";
import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";

/** The `blueprints` table: one row per blueprint, its config, limit and whether it is enabled. */
export const blueprintsProjection: InlineProjection = {
  name: "blueprints",
  async apply(db, event: RecordedEvent) {
    const id = event.streamId.slice("blueprint-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "BlueprintCreated": {
        const d = event.data as BlueprintEventData<"BlueprintCreated">;
        await db
          .insertInto("blueprints")
          .values({
            blueprint_id: d.blueprintId,
            name: d.name,
            kind: d.kind,
            resource_type: d.resourceType,
            config: JSON.stringify(d.config),
            resource_limit: d.resourceLimit,
            enabled: true,
            live_resources: 0,
            created_at: event.recordedAt,
            ...base,
          })
          .execute();
        return;
      }
      case "BlueprintUpdated": {
        const d = event.data as BlueprintEventData<"BlueprintUpdated">;
        await db
          .updateTable("blueprints")
          .set({
            ...base,
            ...(d.name !== undefined ? { name: d.name } : {}),
            ...(d.config !== undefined ? { config: JSON.stringify(d.config) } : {}),
            ...(d.resourceLimit !== undefined ? { resource_limit: d.resourceLimit } : {}),
          })
          .where("blueprint_id", "=", id)
          .execute();
        return;
      }
      case "BlueprintDisabled":
      case "BlueprintEnabled":
        await db
          .updateTable("blueprints")
          .set({ ...base, enabled: event.type === "BlueprintEnabled" })
          .where("blueprint_id", "=", id)
          .execute();
        return;
      default:
        return;
    }
  },
};

import type { BlueprintEventData } from "../../events/blueprint-events";
import type { RecordedEvent } from "../../events/envelope";
import type { BatchProjection, BlueprintRow } from "./row-set";

/** The batch form of projections/blueprints-projection.ts: the same `blueprints` rows, in memory. */
export const blueprintsRows: BatchProjection = {
  name: "blueprints",
  apply(rows, event: RecordedEvent) {
    // As the projection: any stream, by event type (blueprint rows never leave memory, so no keys).
    const id = event.streamId.slice("blueprint-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "BlueprintCreated": {
        const d = event.data as BlueprintEventData<"BlueprintCreated">;
        rows.blueprints.insert(d.blueprintId, {
          blueprint_id: d.blueprintId,
          name: d.name,
          kind: d.kind,
          resource_type: d.resourceType,
          config: d.config,
          resource_limit: d.resourceLimit,
          enabled: true,
          live_resources: 0,
          created_at: event.recordedAt,
          ...base,
        });
        return;
      }
      case "BlueprintUpdated": {
        const d = event.data as BlueprintEventData<"BlueprintUpdated">;
        const set: Partial<BlueprintRow> = {};
        if (d.name !== undefined) set.name = d.name;
        if (d.config !== undefined) set.config = d.config;
        if (d.resourceLimit !== undefined) set.resource_limit = d.resourceLimit;
        rows.blueprints.update(id, base, set);
        return;
      }
      case "BlueprintDisabled":
      case "BlueprintEnabled":
        rows.blueprints.update(id, base, { enabled: event.type === "BlueprintEnabled" });
        return;
      default:
        return;
    }
  },
};

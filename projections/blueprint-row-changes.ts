import type { Selectable } from "kysely";
import type { BlueprintEventData } from "../events/blueprint-events";
import type { RecordedEvent } from "../events/envelope";
import type { BlueprintsTable } from "../src/store/schema";
import type { RowChange } from "./row-change";

export type BlueprintRow = Selectable<BlueprintsTable>;
export const BLUEPRINT_JSON_COLUMNS = ["config"] as const;

/**
 * What a blueprint event does to its `blueprints` row (null: nothing); the one definition of
 * that row. `live_resources` is the capacity projection's.
 */
export function blueprintRowChange(event: RecordedEvent): RowChange<BlueprintRow> | null {
  const base = { version: event.streamVersion, updated_at: event.recordedAt };
  switch (event.type) {
    case "BlueprintCreated": {
      const d = event.data as BlueprintEventData<"BlueprintCreated">;
      return {
        insert: {
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
        },
      };
    }
    case "BlueprintUpdated": {
      const d = event.data as BlueprintEventData<"BlueprintUpdated">;
      return {
        set: {
          ...base,
          ...(d.name !== undefined ? { name: d.name } : {}),
          ...(d.config !== undefined ? { config: d.config } : {}),
          ...(d.resourceLimit !== undefined ? { resource_limit: d.resourceLimit } : {}),
        },
      };
    }
    case "BlueprintDisabled":
    case "BlueprintEnabled":
      return { set: { ...base, enabled: event.type === "BlueprintEnabled" } };
    default:
      return null;
  }
}

import type { Selectable } from "kysely";
import type { BlueprintEventData } from "../events/blueprint-events";
import type { ProjectedEvent } from "../src/store/projection";
import type { BlueprintsTable } from "../src/store/schema";
import type { RowChange } from "./row-change";
import { failingTargetOf, type FailingTarget } from "../src/machines/blueprint-machine";

export type BlueprintRow = Selectable<BlueprintsTable>;
export const BLUEPRINT_JSON_COLUMNS = ["config", "failing_targets"] as const;

/**
 * What a blueprint event does to its `blueprints` row (null: nothing); the one definition of
 * that row. `live_resources` is the capacity projection's.
 */
export function blueprintRowChange(event: ProjectedEvent): RowChange<BlueprintRow> | null {
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
          max_lease_seconds: d.maxLeaseSeconds ?? null,
          min_ready: d.minReady ?? null,
          max_leases_per_resource: d.maxLeasesPerResource ?? null,
          max_age_seconds: d.maxAgeSeconds ?? null,
          idle_destroy_seconds: d.idleDestroySeconds ?? null,
          enabled: true,
          live_resources: 0,
          failing_targets: [],
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
          // A config change may be the fix: every target gets another try (blueprint-machine.ts).
          ...(d.config !== undefined ? { config: d.config, failing_targets: [] } : {}),
          ...(d.resourceLimit !== undefined ? { resource_limit: d.resourceLimit } : {}),
          ...(d.maxLeaseSeconds !== undefined ? { max_lease_seconds: d.maxLeaseSeconds } : {}),
          ...(d.minReady !== undefined ? { min_ready: d.minReady } : {}),
          ...(d.maxLeasesPerResource !== undefined ? { max_leases_per_resource: d.maxLeasesPerResource } : {}),
          ...(d.maxAgeSeconds !== undefined ? { max_age_seconds: d.maxAgeSeconds } : {}),
          ...(d.idleDestroySeconds !== undefined ? { idle_destroy_seconds: d.idleDestroySeconds } : {}),
        },
      };
    }
    case "BlueprintDisabled":
    case "BlueprintEnabled":
      return { set: { ...base, enabled: event.type === "BlueprintEnabled", ...(event.type === "BlueprintEnabled" ? { failing_targets: [] } : {}) } };
    case "BlueprintTargetFailed": {
      const d = event.data as BlueprintEventData<"BlueprintTargetFailed">;
      return {
        derive: (row) => {
          const before = row.failing_targets as FailingTarget[];
          return { ...base, failing_targets: [...before.filter((f) => f.target !== d.target), failingTargetOf(d, event.recordedAt.toISOString(), before)] };
        },
      };
    }
    case "BlueprintTargetRecovered": {
      const d = event.data as BlueprintEventData<"BlueprintTargetRecovered">;
      return { derive: (row) => ({ ...base, failing_targets: (row.failing_targets as FailingTarget[]).filter((f) => f.target !== d.target) }) };
    }
    case "BlueprintInstanceReaped":
      // Only the version moves: the row must stay at the stream's version for the next append.
      return { set: base };
    default:
      return null;
  }
}

import { RESOURCE_JSON_COLUMNS, resourceRowChange } from "./resource-row-changes";
import { rowProjection } from "./row-projection";
import { poolItemReturning } from "./work-projection";

/** The `resources` table: status, attributes and lease slots of every resource (rows: resource-row-changes.ts). */
export const resourcesProjection = rowProjection({
  name: "resources",
  streamType: "resource",
  table: "resources",
  column: "resource_id",
  json: RESOURCE_JSON_COLUMNS,
  change: resourceRowChange,
  returning: ["status", "retry_at", "hold_reason", "hold_until", "destroy_deferred", ...poolItemReturning("resources")],
});

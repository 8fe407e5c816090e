import { BLUEPRINT_JSON_COLUMNS, blueprintRowChange } from "./blueprint-row-changes";
import { rowProjection } from "./row-projection";

/** The `blueprints` table: one row per blueprint, its config, limit and whether it is enabled. */
export const blueprintsProjection = rowProjection({
  name: "blueprints",
  streamType: "blueprint",
  table: "blueprints",
  column: "blueprint_id",
  json: BLUEPRINT_JSON_COLUMNS,
  change: blueprintRowChange,
});

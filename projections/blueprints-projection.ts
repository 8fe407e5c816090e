import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";
import { BLUEPRINT_JSON_COLUMNS, blueprintRowChange } from "./blueprint-row-changes";
import { applyRowChange } from "./row-change";

/** The `blueprints` table: one row per blueprint, its config, limit and whether it is enabled. */
export const blueprintsProjection: InlineProjection = {
  name: "blueprints",
  async apply(db, event: RecordedEvent) {
    const change = blueprintRowChange(event);
    if (change) await applyRowChange(db, { table: "blueprints", column: "blueprint_id", value: event.streamId.slice("blueprint-".length), json: BLUEPRINT_JSON_COLUMNS }, change);
  },
};

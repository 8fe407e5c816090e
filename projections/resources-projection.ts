import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";
import { RESOURCE_JSON_COLUMNS, resourceRowChange } from "./resource-row-changes";
import { applyRowChange } from "./row-change";

/** The `resources` table: status, attributes and lease slots of every resource (rows: resource-row-changes.ts). */
export const resourcesProjection: InlineProjection = {
  name: "resources",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("resource-")) return;
    const change = resourceRowChange(event);
    if (change) await applyRowChange(db, { table: "resources", column: "resource_id", value: event.streamId.slice("resource-".length), json: RESOURCE_JSON_COLUMNS }, change);
  },
};

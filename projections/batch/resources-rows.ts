import type { RecordedEvent } from "../../events/envelope";
import { resourceRowChange } from "../resource-row-changes";
import { applyRowChangeInMemory } from "../row-change";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/resources-projection.ts: the same row changes, in memory. */
export const resourcesRows: BatchProjection = {
  name: "resources",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("resource-")) return;
    const change = resourceRowChange(event);
    if (change) applyRowChangeInMemory(rows.resources, event.streamId.slice("resource-".length), change, event.type);
  },
};

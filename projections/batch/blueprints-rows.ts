import type { RecordedEvent } from "../../events/envelope";
import { blueprintRowChange } from "../blueprint-row-changes";
import { applyRowChangeInMemory } from "../row-change";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/blueprints-projection.ts: the same row changes, in memory. */
export const blueprintsRows: BatchProjection = {
  name: "blueprints",
  apply(rows, event: RecordedEvent) {
    // As the projection: any stream, by event type (blueprint rows never leave memory, so no keys).
    const change = blueprintRowChange(event);
    if (change) applyRowChangeInMemory(rows.blueprints, event.streamId.slice("blueprint-".length), change, event.type);
  },
};

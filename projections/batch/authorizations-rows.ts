import type { RecordedEvent } from "../../events/envelope";
import { authorizationRowChange } from "../authorization-row-changes";
import { applyRowChangeInMemory } from "../row-change";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/authorizations-projection.ts: the same row changes, in memory. */
export const authorizationsRows: BatchProjection = {
  name: "authorizations",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("authorization-")) return;
    const change = authorizationRowChange(event);
    if (change) applyRowChangeInMemory(rows.authorizations, event.streamId.slice("authorization-".length), change, event.type);
  },
};

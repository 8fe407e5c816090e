import type { RecordedEvent } from "../../events/envelope";
import { leaseRowChange } from "../lease-row-changes";
import { applyRowChangeInMemory } from "../row-change";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/leases-projection.ts: the same row changes, in memory. */
export const leasesRows: BatchProjection = {
  name: "leases",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("lease-")) return;
    const change = leaseRowChange(event);
    if (change) applyRowChangeInMemory(rows.leases, event.streamId.slice("lease-".length), change, event.type);
  },
};

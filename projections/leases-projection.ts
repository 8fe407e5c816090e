import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";
import { LEASE_JSON_COLUMNS, leaseRowChange } from "./lease-row-changes";
import { applyRowChange } from "./row-change";

/** The `leases` table: what the API lists and the allocator reads (rows: lease-row-changes.ts). */
export const leasesProjection: InlineProjection = {
  name: "leases",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("lease-")) return;
    const change = leaseRowChange(event);
    if (!change) return;
    await applyRowChange(db, { table: "leases", column: "lease_id", value: event.streamId.slice("lease-".length), json: LEASE_JSON_COLUMNS }, change);
  },
};

import { LEASE_JSON_COLUMNS, leaseRowChange } from "./lease-row-changes";
import { rowProjection } from "./row-projection";
import { poolItemReturning } from "./work-projection";

/** The `leases` table: what the API lists and the allocator reads (rows: lease-row-changes.ts). */
export const leasesProjection = rowProjection({
  name: "leases",
  streamType: "lease",
  table: "leases",
  column: "lease_id",
  json: LEASE_JSON_COLUMNS,
  change: leaseRowChange,
  returning: ["status", "retry_at", "expires_at", ...poolItemReturning("leases")],
});

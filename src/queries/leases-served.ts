import { sql, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";

/**
 * Leases ever acquired on each resource (maxLeasesPerResource, src/domain/pool-policy.ts): the
 * leases whose row names it, by the `leases_resource` index. A lease sent back to pending no
 * longer names the resource it left, so it does not count: it never used it. Read only for
 * blueprints with that policy, so a long-lived resource without one costs nothing.
 */
export async function leasesServed(db: Kysely<DrydockDatabase>, resourceIds: readonly string[]): Promise<Map<string, number>> {
  const served = new Map<string, number>();
  if (resourceIds.length === 0) return served;
  const rows = await sql<{ resource_id: string; n: number | string }>`
    SELECT resource_id, count(*) AS n FROM leases WHERE resource_id = any(${[...resourceIds]}::text[]) GROUP BY resource_id`.execute(db);
  for (const r of rows.rows) served.set(r.resource_id, Number(r.n));
  return served;
}

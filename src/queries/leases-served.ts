import { sql, type Expression, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";

/**
 * Leases ever acquired on each resource (maxLeasesPerResource, src/domain/pool-policy.ts): the
 * leases whose row names it, by the `leases_resource` index. A lease sent back to pending no
 * longer names the resource it left, so it does not count: it never used it. Read only for
 * blueprints with that policy, so a long-lived resource without one costs nothing.
 */
export async function leasesServed(db: Kysely<DrydockDatabase>, resourceIds: readonly string[]): Promise<Map<string, number>> {
  if (resourceIds.length === 0) return new Map();
  const rows = await sql<LeasesServedRow>`${leasesServedSql(sql`${[...resourceIds]}::text[]`)}`.execute(db);
  return leasesServedOf(rows.rows);
}

export interface LeasesServedRow {
  resource_id: string;
  n: number | string;
}

/** The query of leasesServed over a text[] of resource ids: one definition, for the allocation snapshot too. */
export function leasesServedSql(resourceIds: Expression<string[]>) {
  return sql`SELECT resource_id, count(*) AS n FROM leases WHERE resource_id = any(${resourceIds}) GROUP BY resource_id`;
}

export function leasesServedOf(rows: readonly LeasesServedRow[]): Map<string, number> {
  return new Map(rows.map((r) => [r.resource_id, Number(r.n)]));
}

import { sql, type Expression, type Kysely } from "kysely";
import type { LiveLeaseCount } from "../domain/lease-quota";
import type { DrydockDatabase } from "../store/schema";

/** Each owner's live (acquired or active) leases: of every type, and of `resourceType`. */
export async function liveLeaseCounts(db: Kysely<DrydockDatabase>, owners: readonly string[], resourceType: string): Promise<Map<string, LiveLeaseCount>> {
  if (owners.length === 0) return new Map();
  const rows = await sql<LiveLeaseCountRow>`${liveLeaseCountsSql(sql`${[...new Set(owners)]}::text[]`, resourceType)}`.execute(db);
  return liveLeaseCountsOf(rows.rows);
}

export interface LiveLeaseCountRow {
  owner: string;
  total: number | string;
  of_type: number | string;
}

/**
 * The query of liveLeaseCounts over a text[] of owners: one definition, for the allocation snapshot too.
 *
 * `cardinality(owners) > 0` names no column, so the planner makes it a one-time filter that skips
 * the scan when no owner is asked about: the snapshot asks only when a lease carries a quota,
 * and its plan, made once for every lease, otherwise still walked the status index over every
 * live lease (and every dead version of one not vacuumed yet) before finding the owners empty.
 */
export function liveLeaseCountsSql(owners: Expression<string[]>, resourceType: string) {
  return sql`SELECT owner, count(*) AS total, count(*) FILTER (WHERE resource_type = ${resourceType}) AS of_type
      FROM leases WHERE cardinality(${owners}) > 0 AND owner = any(${owners}) AND status IN ('acquired', 'active')
     GROUP BY owner`;
}

export function liveLeaseCountsOf(rows: readonly LiveLeaseCountRow[]): Map<string, LiveLeaseCount> {
  return new Map(rows.map((r) => [r.owner, { total: Number(r.total), ofType: Number(r.of_type) }]));
}

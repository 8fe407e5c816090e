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

/** The query of liveLeaseCounts over a text[] of owners: one definition, for the allocation snapshot too. */
export function liveLeaseCountsSql(owners: Expression<string[]>, resourceType: string) {
  return sql`SELECT owner, count(*) AS total, count(*) FILTER (WHERE resource_type = ${resourceType}) AS of_type
      FROM leases WHERE owner = any(${owners}) AND status IN ('acquired', 'active')
     GROUP BY owner`;
}

export function liveLeaseCountsOf(rows: readonly LiveLeaseCountRow[]): Map<string, LiveLeaseCount> {
  return new Map(rows.map((r) => [r.owner, { total: Number(r.total), ofType: Number(r.of_type) }]));
}

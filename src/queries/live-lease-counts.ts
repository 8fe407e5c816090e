import { sql, type Kysely } from "kysely";
import type { LiveLeaseCount } from "../domain/lease-quota";
import type { DrydockDatabase } from "../store/schema";

/** Each owner's live (acquired or active) leases: of every type, and of `resourceType`. */
export async function liveLeaseCounts(db: Kysely<DrydockDatabase>, owners: readonly string[], resourceType: string): Promise<Map<string, LiveLeaseCount>> {
  const counts = new Map<string, LiveLeaseCount>();
  if (owners.length === 0) return counts;
  const rows = await sql<{ owner: string; total: number | string; of_type: number | string }>`
    SELECT owner, count(*) AS total, count(*) FILTER (WHERE resource_type = ${resourceType}) AS of_type
      FROM leases WHERE owner = any(${[...new Set(owners)]}::text[]) AND status IN ('acquired', 'active')
     GROUP BY owner`.execute(db);
  for (const r of rows.rows) counts.set(r.owner, { total: Number(r.total), ofType: Number(r.of_type) });
  return counts;
}

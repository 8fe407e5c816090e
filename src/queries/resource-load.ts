import { sql, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";

export interface ResourceLoad {
  /** Leases acquired or active on it now. */
  liveLeases: number;
  /** When its last lease ended; with no live lease, the resource is idle since then. */
  lastLeaseEndedAt: Date | null;
}

/**
 * Live leases per resource, counted from the leases projection when read rather than kept as a
 * counter on the resource row (see projections/capacity-projection.ts for why).
 */
export async function resourceLoads(db: Kysely<DrydockDatabase>, resourceIds: readonly string[]): Promise<Map<string, ResourceLoad>> {
  const loads = new Map<string, ResourceLoad>();
  if (resourceIds.length === 0) return loads;
  const rows = await sql<{ resource_id: string; live: number | string; last_ended: Date | string | null }>`
    SELECT resource_id,
           count(*) FILTER (WHERE status IN ('acquired', 'active')) AS live,
           max(ended_at) AS last_ended
      FROM leases
     WHERE resource_id IN (${sql.join(resourceIds)})
     GROUP BY resource_id`.execute(db);
  for (const r of rows.rows) loads.set(r.resource_id, { liveLeases: Number(r.live), lastLeaseEndedAt: r.last_ended ? new Date(r.last_ended) : null });
  return loads;
}

export async function resourceLoad(db: Kysely<DrydockDatabase>, resourceId: string): Promise<ResourceLoad> {
  return (await resourceLoads(db, [resourceId])).get(resourceId) ?? { liveLeases: 0, lastLeaseEndedAt: null };
}

/** Idle since: no live lease, and the later of its activation and its last lease's end. */
export function idleSinceOf(status: string, activatedAt: Date | string | null, load: ResourceLoad | undefined): Date | null {
  if (status !== "active" || (load?.liveLeases ?? 0) > 0 || activatedAt === null) return null;
  const activated = new Date(activatedAt);
  const ended = load?.lastLeaseEndedAt;
  return ended && ended > activated ? ended : activated;
}

import { sql, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";

export interface ResourceLoad {
  /** Leases acquired or active on it now. */
  liveLeases: number;
  /** When its last lease ended; with no live lease, the resource is idle since then. */
  lastLeaseEndedAt: Date | null;
}

/**
 * Live leases per resource and when its last lease ended, in one statement whose cost does not
 * grow with history: live leases are the lease slot locks leases hold on it (a lease holds its slot
 * exactly while it is acquired or active), found by the `slot_locks_scope` index; the last end is
 * one probe of `leases_resource_ended`. Counting the leases projection instead read every lease
 * the resource ever held, and the local host's resource lives forever.
 */
export async function resourceLoads(db: Kysely<DrydockDatabase>, resourceIds: readonly string[]): Promise<Map<string, ResourceLoad>> {
  const loads = new Map<string, ResourceLoad>();
  if (resourceIds.length === 0) return loads;
  const rows = await sql<{ resource_id: string; live: number | string; last_ended: Date | string | null }>`
    SELECT x.id AS resource_id,
           (SELECT count(*) FROM slot_locks s WHERE s.scope_id = x.id AND s.lock_key LIKE 'resource:%' AND s.owner_stream_id LIKE 'lease-%') AS live,
           (SELECT max(l.ended_at) FROM leases l WHERE l.resource_id = x.id AND l.ended_at IS NOT NULL) AS last_ended
      FROM unnest(${[...resourceIds]}::text[]) AS x(id)`.execute(db);
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

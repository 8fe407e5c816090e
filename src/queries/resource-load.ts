import { sql, type Expression, type Kysely } from "kysely";
import type { DrydockDatabase } from "../store/schema";

export interface ResourceLoad {
  /** Leases acquired or active on it now. */
  liveLeases: number;
  /** When its last lease ended; with no live lease, the resource is idle since then. */
  lastLeaseEndedAt: Date | null;
}

/** A load as SQL returns it: the count may come back as a string, the time as a string (JSON) or a Date. */
export interface ResourceLoadRow {
  live: number | string;
  last_ended: Date | string | null;
}

/**
 * The columns `live` and `last_ended` of the resource whose id is `id`, at a cost that does not
 * grow with history: live leases are the lease slot locks leases hold on it (a lease holds its slot
 * exactly while it is acquired or active), found by the `slot_locks_scope` index; the last end is
 * one probe of `leases_resource_ended`. Counting the leases projection instead read every lease
 * the resource ever held, and the local host's resource lives forever. One definition, for
 * resourceLoads and for the allocation snapshot (src/allocator/allocation-snapshot.ts).
 */
export function resourceLoadColumns(id: Expression<string>) {
  return sql`(SELECT count(*) FROM slot_locks s WHERE s.scope_id = ${id} AND s.lock_key LIKE 'resource:%' AND s.owner_stream_id LIKE 'lease-%') AS live,
           (SELECT max(l.ended_at) FROM leases l WHERE l.resource_id = ${id} AND l.ended_at IS NOT NULL) AS last_ended`;
}

export function resourceLoadOf(row: ResourceLoadRow): ResourceLoad {
  return { liveLeases: Number(row.live), lastLeaseEndedAt: row.last_ended ? new Date(row.last_ended) : null };
}

/** Live leases per resource and when its last lease ended, in one statement (resourceLoadColumns). */
export async function resourceLoads(db: Kysely<DrydockDatabase>, resourceIds: readonly string[]): Promise<Map<string, ResourceLoad>> {
  const loads = new Map<string, ResourceLoad>();
  if (resourceIds.length === 0) return loads;
  const rows = await sql<{ resource_id: string } & ResourceLoadRow>`
    SELECT x.id AS resource_id, ${resourceLoadColumns(sql.ref("x.id"))}
      FROM unnest(${[...resourceIds]}::text[]) AS x(id)`.execute(db);
  for (const r of rows.rows) loads.set(r.resource_id, resourceLoadOf(r));
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

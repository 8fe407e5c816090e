import type { Kysely } from "kysely";
import { streamIdOf } from "../../events/envelope";
import { NotFoundError } from "../domain/errors";
import { leaseRecordOfState, resourceLoadsOf, resourceRecordOfState } from "../history/records-of-state";
import { statesAt } from "../history/state-at";
import type { EventStore } from "../store/event-store";
import { leaseStreamsAcquiredOn } from "../store/log-queries";
import type { DrydockDatabase } from "../store/schema";
import type { LeaseFilter, LeaseRecord } from "./lease-queries";
import { decodeCursor, encodeCursor, type Page } from "./pagination";
import type { ResourceFilter, ResourceRecord } from "./resource-queries";

/**
 * Leases and resources as they were at a past moment (`?asOf=`), folded from the log up to it.
 * The projections serve only as an index of which streams existed by then: a lease's type,
 * owner and request time (a resource's type, blueprint and allocation time) never change, so
 * filtering and paging on them is exact. Everything else comes from the log.
 */
interface AsOfReader {
  db: Kysely<DrydockDatabase>;
  store: Pick<EventStore, "readStreamsUpTo">;
}

/** Candidates are read in batches until a page is full: time-dependent filters drop some of them. */
const CANDIDATE_BATCH = 200;

export async function getLeaseAsOf(r: AsOfReader, leaseId: string, asOf: Date): Promise<LeaseRecord> {
  const { leases } = statesAt(await r.store.readStreamsUpTo([streamIdOf("lease", leaseId)], { asOf }), { asOf });
  const lease = leases[0];
  if (!lease) throw new NotFoundError("lease", `${leaseId} (at ${asOf.toISOString()})`);
  return leaseRecordOfState(lease);
}

export async function listLeasesAsOf(r: AsOfReader, filter: LeaseFilter & { asOf: Date }): Promise<Page<LeaseRecord>> {
  let before = filter.cursor ? decodeCursor(filter.cursor) : null;
  const found: LeaseRecord[] = [];
  for (;;) {
    let q = r.db.selectFrom("leases").select("lease_id").where("requested_at", "<=", filter.asOf).orderBy("lease_id", "desc").limit(CANDIDATE_BATCH);
    if (filter.resourceType) q = q.where("resource_type", "=", filter.resourceType);
    if (filter.owner) q = q.where("owner", "=", filter.owner);
    if (filter.authorizingObject) q = q.where("authorizing_object", "=", filter.authorizingObject);
    if (before) q = q.where("lease_id", "<", before);
    const ids = (await q.execute()).map((row) => row.lease_id);
    if (ids.length === 0) break;
    const events = await r.store.readStreamsUpTo(ids.map((id) => streamIdOf("lease", id)), { asOf: filter.asOf });
    const byId = new Map(statesAt(events, { asOf: filter.asOf }).leases.map((s) => [s.context.leaseId, s]));
    for (const id of ids) {
      const state = byId.get(id);
      if (!state) continue;
      if (filter.status?.length && !filter.status.includes(state.status)) continue;
      if (filter.resourceId && state.context.resourceId !== filter.resourceId) continue;
      found.push(leaseRecordOfState(state));
      if (found.length > filter.limit) break;
    }
    if (found.length > filter.limit || ids.length < CANDIDATE_BATCH) break;
    before = ids.at(-1)!;
  }
  return pageOfRecords(found, filter.limit);
}

export async function getResourceAsOf(r: AsOfReader, resourceId: string, asOf: Date): Promise<ResourceRecord> {
  const records = await resourcesAsOf(r, [resourceId], asOf);
  const record = records.get(resourceId);
  if (!record) throw new NotFoundError("resource", `${resourceId} (at ${asOf.toISOString()})`);
  return record;
}

export async function listResourcesAsOf(r: AsOfReader, filter: ResourceFilter & { asOf: Date }): Promise<Page<ResourceRecord>> {
  let before = filter.cursor ? decodeCursor(filter.cursor) : null;
  const found: ResourceRecord[] = [];
  for (;;) {
    let q = r.db.selectFrom("resources").select("resource_id").where("allocated_at", "<=", filter.asOf).orderBy("resource_id", "desc").limit(CANDIDATE_BATCH);
    if (filter.resourceType) q = q.where("resource_type", "=", filter.resourceType);
    if (filter.blueprintId) q = q.where("blueprint_id", "=", filter.blueprintId);
    if (before) q = q.where("resource_id", "<", before);
    const ids = (await q.execute()).map((row) => row.resource_id);
    if (ids.length === 0) break;
    const records = await resourcesAsOf(r, ids, filter.asOf);
    for (const id of ids) {
      const record = records.get(id);
      if (!record || (filter.status?.length && !filter.status.includes(record.status))) continue;
      found.push(record);
      if (found.length > filter.limit) break;
    }
    if (found.length > filter.limit || ids.length < CANDIDATE_BATCH) break;
    before = ids.at(-1)!;
  }
  return pageOfRecords(found, filter.limit);
}

/** Resources folded as of a moment, with their live leases then (the leases ever acquired on them, folded too). */
async function resourcesAsOf(r: AsOfReader, resourceIds: readonly string[], asOf: Date): Promise<Map<string, ResourceRecord>> {
  const leaseStreams = await leaseStreamsAcquiredOn(r.db, resourceIds, { asOf });
  const events = await r.store.readStreamsUpTo([...resourceIds.map((id) => streamIdOf("resource", id)), ...leaseStreams], { asOf });
  const { leases, resources } = statesAt(events, { asOf });
  const loads = resourceLoadsOf(leases);
  return new Map(resources.map((s) => [s.context.resourceId, resourceRecordOfState(s, loads.get(s.context.resourceId))]));
}

function pageOfRecords<T extends { id: string }>(found: T[], limit: number): Page<T> {
  const more = found.length > limit;
  const items = more ? found.slice(0, limit) : found;
  return { items, nextCursor: more ? encodeCursor(items.at(-1)!.id) : null };
}

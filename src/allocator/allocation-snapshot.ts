import { sql, type CompiledQuery, type Kysely } from "kysely";
import type { LeaseQuotaOfLease, LiveLeaseCount } from "../domain/lease-quota";
import { blueprintRowOfJson, resourceRowOfJson, type BlueprintRow, type ResourceRow } from "../queries/json-rows";
import { leasesServedOf, leasesServedSql, type LeasesServedRow } from "../queries/leases-served";
import { liveLeaseCountsOf, liveLeaseCountsSql, type LiveLeaseCountRow } from "../queries/live-lease-counts";
import { resourceLoadColumns, resourceLoadOf, type ResourceLoad, type ResourceLoadRow } from "../queries/resource-load";
import { CompiledShapes } from "../store/compiled-once";
import type { DrydockDatabase } from "../store/schema";
import type { TokenTerms } from "../auth/token-check";
import { tokenTermsQuery } from "../auth/token-queries";
import type { KeptViewDecision } from "./stale-view-guard";

/** Where a lease stands in the queue (LeaseRequested's priority, and its request time). */
export interface QueuePlace {
  priority: number;
  requestedAt: Date;
  /** The quota the lease carries (LeaseRequested.quota); null: none. */
  quota: LeaseQuotaOfLease | null;
}

/** Leases ahead of one in the queue that the view includes, at most (a longer queue: the first ones). */
const AHEAD_LIMIT = 50;
const AHEAD_COLUMNS = sql.raw("lease_id, resource_type, attributes, owner, owner_resource_id, authorizing_object, blueprint_ids, lease_quota, priority, requested_at");

export interface SnapshotRequest {
  resourceType: string;
  /** The kinds this process implements: blueprints of other kinds are not part of the view. */
  kinds: readonly string[];
  lease: { leaseId: string; owner: string; authorizingObject: string | null };
  /** The lease's place in the queue; without one, no lease is ahead of it. */
  place?: QueuePlace;
  /**
   * The requesting token, read along (TokenReadAlong): the statement also finds its terms, if it
   * works at `at`. Its quota is not known before, so the owner's quota numbers and live count
   * are read whenever the token has one (`place.quota` is not looked at).
   */
  token?: { tokenId: string; at: Date };
}

export interface AheadRow {
  lease_id: string;
  resource_type: string;
  attributes: Record<string, unknown>;
  owner: string;
  owner_resource_id: string | null;
  authorizing_object: string | null;
  blueprint_ids: string[] | null;
  lease_quota: LeaseQuotaOfLease | null;
}

/** What loadAllocationView decides over, all read by one statement, so from one snapshot. */
export interface AllocationSnapshot {
  blueprints: BlueprintRow[];
  /** Their resources not destroyed yet (ended ones still hold their locks). */
  undestroyed: ResourceRow[];
  /** Every lock scoped to those blueprints, their pending and active resources, and the owner when the lease carries a quota. */
  locks: { lock_key: string; owner_stream_id: string }[];
  /** Loads of the active resources that hold no lease slot but their hold's: the idle ones. */
  loads: Map<string, ResourceLoad>;
  /** Leases served by the pending and active resources of blueprints with maxLeasesPerResource. */
  served: Map<string, number>;
  /** Pending leases of the type ahead of this one (see aheadSql). */
  ahead: AheadRow[];
  /** Approved authorizations of the lease's client and of the clients of the leases ahead. */
  approved: { client: string; blueprint_id: string }[];
  /** Live lease counts of the owners whose leases carry a quota: the lease's, those ahead. */
  live: Map<string, LiveLeaseCount>;
  /**
   * When the statement was sent, on the monotonic clock (performance.now()): what this instance
   * committed after it, the rows may not show (slots-in-flight.ts).
   */
  readStartedAt: number;
  /** With `token`: its terms and the version of its row they were read at, null when it does not work at the request's time; absent without. */
  token?: (TokenTerms & { version: number }) | null;
  /**
   * Set on a view kept from an earlier request (capacity-view-cache.ts) rather than read for this
   * one: a decision over it is appended only with the guard stale-view-guard.ts builds, which
   * checks the request's token too when its terms came from the view.
   */
  kept?: { token: KeptViewDecision["token"] };
}

export interface SnapshotRow {
  blueprints: Record<string, unknown>[];
  resources: Record<string, unknown>[];
  locks: { lock_key: string; owner_stream_id: string }[];
  loads: ({ resource_id: string } & ResourceLoadRow)[];
  served: LeasesServedRow[];
  ahead: AheadRow[];
  approved: { client: string; blueprint_id: string }[];
  live: LiveLeaseCountRow[];
  token?: { default_lease_ttl_seconds: number | null; lease_quota: TokenTerms["leaseQuota"]; version: number } | null;
}

/** The values the snapshot's statement is filled with; which of them it holds depends on its shape. */
export interface SnapshotArgs extends Record<string, unknown> {
  resourceType: string;
  kinds: string[];
  authorizingObject: string | null;
  /** Without the token read along: the owners whose quota numbers and live counts are read. */
  quotaOwners?: string[];
  /** With the token read along: the token, when it must work, and the lease's owner (for its quota). */
  tokenId?: string;
  at?: Date;
  owner?: string;
  /** With a place in the queue: the lease's, to find the leases ahead of it. */
  leaseId?: string;
  priority?: number;
  requestedAt?: Date;
}

/**
 * The statement's text depends only on whether the token is read along and whether the lease
 * has a place in the queue: compiled once for each of those four shapes (compiled-once.ts),
 * then only filled in. Built and compiled anew, the statement and the token's query in it cost
 * about 4 % of the service thread's CPU in a lease cycle.
 */
const snapshotShapes = new CompiledShapes();

/**
 * The capacity view's rows in one statement, where they were up to eight: the blueprints, their undestroyed resources, the locks, the idle resources' loads, the leases served,
 * the queue ahead, the authorizations and the quota counts. Each part keeps the query and the
 * index it had as a statement of its own (the shared parts are the same SQL: resource-load.ts,
 * leases-served.ts, live-lease-counts.ts); what a part depends on (the resources whose locks are
 * read, the clients of the leases ahead) now comes from the CTEs instead of a round trip. Rows
 * come back as JSON and are made the driver's rows again (json-rows.ts).
 */
export async function readAllocationSnapshot(db: Kysely<DrydockDatabase>, q: SnapshotRequest): Promise<AllocationSnapshot> {
  const readStartedAt = performance.now();
  const query = allocationSnapshotQuery(db, q);
  const row = (await db.executeQuery<SnapshotRow>(query)).rows[0]!;
  return {
    blueprints: row.blueprints.map(blueprintRowOfJson),
    undestroyed: row.resources.map(resourceRowOfJson),
    locks: row.locks,
    loads: new Map(row.loads.map((l) => [l.resource_id, resourceLoadOf(l)])),
    served: leasesServedOf(row.served),
    ahead: row.ahead,
    approved: row.approved,
    live: liveLeaseCountsOf(row.live),
    readStartedAt,
    ...(q.token ? { token: row.token ? { defaultLeaseTtlSeconds: row.token.default_lease_ttl_seconds, leaseQuota: row.token.lease_quota ?? null, version: row.token.version } : null } : {}),
  };
}

/** The snapshot's statement for `q`, compiled once for its shape and filled with its values. */
export function allocationSnapshotQuery(db: Kysely<DrydockDatabase>, q: SnapshotRequest): CompiledQuery<SnapshotRow> {
  const shape = `${q.token ? "token" : "-"}:${q.place ? "place" : "-"}`;
  return snapshotShapes.compile(db, shape, snapshotArgs(q), (db, a) => ({ compile: () => snapshotSql(db, a).compile(db) }));
}

/** The values of `q` the statement holds: only those its shape's text uses (CompiledShapes refuses one it does not). */
export function snapshotArgs(q: SnapshotRequest): SnapshotArgs {
  return {
    resourceType: q.resourceType,
    kinds: [...q.kinds],
    authorizingObject: q.lease.authorizingObject,
    // With the token read along, its quota decides in the statement; otherwise the lease's own.
    ...(q.token ? { tokenId: q.token.tokenId, at: q.token.at, owner: q.lease.owner } : { quotaOwners: q.place?.quota ? [q.lease.owner] : [] }),
    ...(q.place ? { leaseId: q.lease.leaseId, priority: q.place.priority, requestedAt: q.place.requestedAt } : {}),
  };
}

/**
 * The snapshot's statement for one shape. `a` holds stand-ins for the values (compiled-once.ts):
 * which of them are present makes the shape; their values are never looked at here.
 */
export function snapshotSql(db: Kysely<DrydockDatabase>, a: SnapshotArgs) {
  const token = a.tokenId !== undefined && a.at !== undefined ? { tokenId: a.tokenId, at: a.at, owner: a.owner } : null;
  // The owners whose quota numbers and live counts are read: the lease's own when it carries a
  // quota, or, with the token read along, when the token has one.
  const quotaOwners = token ? sql`ARRAY(SELECT ${token.owner}::text FROM tok WHERE tok.lease_quota IS NOT NULL AND tok.lease_quota::text <> 'null')` : sql`${a.quotaOwners}::text[]`;
  const place = a.leaseId !== undefined && a.priority !== undefined && a.requestedAt !== undefined ? { leaseId: a.leaseId, priority: a.priority, requestedAt: a.requestedAt } : null;
  // lk: every lock of these blueprints and resources by the indexed scope (not one LIKE per
  // resource), and the owner's quota numbers when the lease carries a quota (scope: the owner).
  // loads: only idle resources can be reclaimed, so their last lease's end is looked up for them
  // alone; idle is active with no lease slot taken but by the resource's own hold (isHoldLock).
  // served and live: read only where a blueprint limits leases served, or a lease carries a
  // quota; otherwise their probes get an empty array.
  return sql<SnapshotRow>`
    WITH ${token ? sql`tok AS ${tokenTermsQuery(db, token)},` : sql``}
    b AS (SELECT * FROM blueprints WHERE resource_type = ${a.resourceType} AND kind = any(${a.kinds}::text[])),
    -- bid: the blueprints of the view, and whether they count leases served (maxLeasesPerResource).
    bid AS (SELECT blueprint_id, max_leases_per_resource IS NOT NULL AS counts_served FROM b),
    u AS (SELECT * FROM resources WHERE blueprint_id IN (SELECT blueprint_id FROM bid) AND status IN ('pending', 'active', 'released', 'broken')),
    lk AS (SELECT lock_key, owner_stream_id FROM slot_locks
            WHERE scope_id = any(ARRAY(SELECT blueprint_id FROM bid) || ARRAY(SELECT resource_id FROM u WHERE status IN ('pending', 'active')) || ${quotaOwners})),
    ahead AS (${place ? aheadSql(a.resourceType, place) : sql`SELECT ${AHEAD_COLUMNS} FROM leases WHERE false`})
    SELECT
      (SELECT coalesce(json_agg(b), '[]') FROM b) AS blueprints,
      (SELECT coalesce(json_agg(u), '[]') FROM u) AS resources,
      (SELECT coalesce(json_agg(lk), '[]') FROM lk) AS locks,
      (SELECT coalesce(json_agg(x), '[]') FROM (
         SELECT u.resource_id, ${resourceLoadColumns(sql.ref("u.resource_id"))} FROM u
          WHERE u.status = 'active'
            AND NOT EXISTS (SELECT 1 FROM lk WHERE starts_with(lk.lock_key, 'resource:' || u.resource_id || ':slot:')
                              AND NOT (starts_with(lk.owner_stream_id, 'resource-') AND starts_with(lk.lock_key, 'resource:' || substr(lk.owner_stream_id, 10) || ':slot:')))) x) AS loads,
      (SELECT coalesce(json_agg(x), '[]') FROM (
         ${leasesServedSql(sql`ARRAY(SELECT u.resource_id FROM u JOIN bid USING (blueprint_id) WHERE bid.counts_served AND u.status IN ('pending', 'active'))`)}) x) AS served,
      (SELECT coalesce(json_agg(json_build_object('lease_id', a.lease_id, 'resource_type', a.resource_type, 'attributes', a.attributes, 'owner', a.owner,
                 'owner_resource_id', a.owner_resource_id, 'authorizing_object', a.authorizing_object, 'blueprint_ids', a.blueprint_ids, 'lease_quota', a.lease_quota)
                 ORDER BY a.priority DESC, a.requested_at, a.lease_id), '[]') FROM ahead a) AS ahead,
      (SELECT coalesce(json_agg(x), '[]') FROM (
         SELECT client, blueprint_id FROM authorizations
          WHERE client = any(array_remove(ARRAY(SELECT ${a.authorizingObject}::text UNION SELECT authorizing_object FROM ahead), NULL)) AND state = 'approved') x) AS approved,
      (SELECT coalesce(json_agg(x), '[]') FROM (
         ${liveLeaseCountsSql(sql`${quotaOwners} || ARRAY(SELECT owner FROM ahead WHERE lease_quota IS NOT NULL AND lease_quota::text <> 'null')`, a.resourceType)}) x) AS live
      ${token ? sql`, (SELECT json_build_object('default_lease_ttl_seconds', default_lease_ttl_seconds, 'lease_quota', lease_quota, 'version', version) FROM tok) AS token` : sql``}`;
}

/**
 * Pending leases of the same type ahead of this one: higher priority, or the same and asked
 * earlier (ids break ties). Leases backing off after a failure of their own (failures > 0) are
 * left out: they are not waiting for capacity, and holding capacity back for them until their
 * retry would idle it. Held leases (a working copy's host) queue like any other.
 */
function aheadSql(resourceType: string, place: { leaseId: string; priority: number; requestedAt: Date }) {
  const { leaseId, priority, requestedAt } = place;
  return sql`SELECT ${AHEAD_COLUMNS} FROM leases
     WHERE status = 'pending' AND resource_type = ${resourceType} AND lease_id != ${leaseId} AND failures = 0
       AND (priority > ${priority} OR (priority = ${priority} AND (requested_at, lease_id) < (${requestedAt}, ${leaseId})))
     ORDER BY priority DESC, requested_at, lease_id
     LIMIT ${AHEAD_LIMIT}`;
}

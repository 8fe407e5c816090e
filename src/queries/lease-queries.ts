import type { Kysely, Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import type { DrydockDatabase, LeasesTable } from "../store/schema";
import { decodeCursor, pageOf, type Page } from "./pagination";
import { isoOrNull } from "./iso-time";
import type { TtlSource } from "../domain/lease-ttl";

export interface LeaseRecord {
  id: string;
  resourceType: string;
  status: string;
  owner: string;
  ownerResourceId: string | null;
  attributes: Record<string, unknown>;
  blueprintIds: string[] | null;
  /** Queue order: higher first, then request time. */
  priority: number;
  resourceId: string | null;
  blueprintId: string | null;
  expiresAt: string | null;
  ttlSeconds: number | null;
  ttlSource: TtlSource;
  waitReason: string | null;
  retryAt: string | null;
  endReason: string | null;
  requestedAt: string;
  acquiredAt: string | null;
  activatedAt: string | null;
  endedAt: string | null;
  version: number;
}


export function leaseRecordOf(row: Selectable<LeasesTable>): LeaseRecord {
  return {
    id: row.lease_id,
    resourceType: row.resource_type,
    status: row.status,
    owner: row.owner,
    ownerResourceId: row.owner_resource_id,
    attributes: row.attributes as Record<string, unknown>,
    blueprintIds: row.blueprint_ids as string[] | null,
    priority: row.priority,
    resourceId: row.resource_id,
    blueprintId: row.blueprint_id,
    expiresAt: isoOrNull(row.expires_at),
    ttlSeconds: row.ttl_seconds,
    ttlSource: row.ttl_source as TtlSource,
    waitReason: row.wait_reason,
    retryAt: isoOrNull(row.retry_at),
    endReason: row.end_reason,
    requestedAt: isoOrNull(row.requested_at)!,
    acquiredAt: isoOrNull(row.acquired_at),
    activatedAt: isoOrNull(row.activated_at),
    endedAt: isoOrNull(row.ended_at),
    version: row.version,
  };
}

export async function getLease(db: Kysely<DrydockDatabase>, leaseId: string): Promise<LeaseRecord> {
  const row = await db.selectFrom("leases").selectAll().where("lease_id", "=", leaseId).executeTakeFirst();
  if (!row) throw new NotFoundError("lease", leaseId);
  return leaseRecordOf(row);
}

export interface LeaseFilter {
  status?: string[];
  resourceType?: string;
  owner?: string;
  /** Only leases asked for under this client's authorizations: with `owner`, a client's own (src/auth/scope.ts). */
  authorizingObject?: string;
  resourceId?: string;
  cursor?: string;
  limit: number;
}

export async function listLeases(db: Kysely<DrydockDatabase>, filter: LeaseFilter): Promise<Page<LeaseRecord>> {
  let q = db.selectFrom("leases").selectAll().orderBy("lease_id", "desc").limit(filter.limit + 1);
  if (filter.status && filter.status.length > 0) q = q.where("status", "in", filter.status);
  if (filter.resourceType) q = q.where("resource_type", "=", filter.resourceType);
  if (filter.owner) q = q.where("owner", "=", filter.owner);
  if (filter.authorizingObject) q = q.where("authorizing_object", "=", filter.authorizingObject);
  if (filter.resourceId) q = q.where("resource_id", "=", filter.resourceId);
  if (filter.cursor) q = q.where("lease_id", "<", decodeCursor(filter.cursor));
  return pageOf(await q.execute(), filter.limit, (r) => r.lease_id, leaseRecordOf);
}

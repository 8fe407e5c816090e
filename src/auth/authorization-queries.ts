import type { Kysely, Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import { decodeCursor, pageOf, type Page } from "../queries/pagination";
import type { AuthorizationsTable, DrydockDatabase } from "../store/schema";
import { isoOrNull } from "../queries/iso-time";

export interface AuthorizationRecord {
  id: string;
  blueprintId: string;
  /** A client name, or `blueprint:<id>` for a blueprint that leases from this one. */
  client: string;
  state: "requested" | "approved" | "declined" | "revoked";
  reason: string | null;
  requestedBy: string;
  requestedAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  version: number;
}


export function authorizationRecordOf(row: Selectable<AuthorizationsTable>): AuthorizationRecord {
  return {
    id: row.authorization_id,
    blueprintId: row.blueprint_id,
    client: row.client,
    state: row.state as AuthorizationRecord["state"],
    reason: row.reason,
    requestedBy: row.requested_by,
    requestedAt: isoOrNull(row.requested_at)!,
    decidedBy: row.decided_by,
    decidedAt: isoOrNull(row.decided_at),
    version: row.version,
  };
}

export async function getAuthorization(db: Kysely<DrydockDatabase>, authorizationId: string): Promise<AuthorizationRecord> {
  const row = await db.selectFrom("authorizations").selectAll().where("authorization_id", "=", authorizationId).executeTakeFirst();
  if (!row) throw new NotFoundError("authorization", authorizationId);
  return authorizationRecordOf(row);
}

export interface AuthorizationFilter {
  client?: string;
  blueprintId?: string;
  state?: string[];
  cursor?: string;
  limit: number;
}

/** Authorizations in id order (ids come from the pair, so they are stable but not by time). */
export async function listAuthorizations(db: Kysely<DrydockDatabase>, filter: AuthorizationFilter): Promise<Page<AuthorizationRecord>> {
  let q = db.selectFrom("authorizations").selectAll().orderBy("authorization_id", "desc").limit(filter.limit + 1);
  if (filter.client) q = q.where("client", "=", filter.client);
  if (filter.blueprintId) q = q.where("blueprint_id", "=", filter.blueprintId);
  if (filter.state && filter.state.length > 0) q = q.where("state", "in", filter.state);
  if (filter.cursor) q = q.where("authorization_id", "<", decodeCursor(filter.cursor));
  return pageOf(await q.execute(), filter.limit, (r) => r.authorization_id, authorizationRecordOf);
}

/** Is the client approved to use the blueprint? */
export async function isAuthorized(db: Kysely<DrydockDatabase>, blueprintId: string, client: string): Promise<boolean> {
  const row = await db
    .selectFrom("authorizations")
    .select("authorization_id")
    .where("blueprint_id", "=", blueprintId)
    .where("client", "=", client)
    .where("state", "=", "approved")
    .executeTakeFirst();
  return row !== undefined;
}

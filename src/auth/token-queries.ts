import type { Kysely, Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import { decodeCursor, pageOf, type Page } from "../queries/pagination";
import type { DrydockDatabase, TokensTable } from "../store/schema";
import type { Principal } from "./principal";
import { hashToken } from "./token-secret";
import { isoOrNull } from "../queries/iso-time";

/** A token as the API lists it: never the secret, never its hash. */
export interface TokenRecord {
  id: string;
  owner: string;
  role: "admin" | "client" | "metrics";
  status: "active" | "revoked";
  issuedBy: string;
  issuedAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
  /** The TTL of leases it asks for without naming one; null: the blueprint's or the service's applies. */
  defaultLeaseTtlSeconds: number | null;
}


export function tokenRecordOf(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.token_id,
    owner: row.owner,
    role: row.role as TokenRecord["role"],
    status: row.status as TokenRecord["status"],
    issuedBy: row.issued_by,
    issuedAt: isoOrNull(row.issued_at)!,
    revokedBy: row.revoked_by,
    revokedAt: isoOrNull(row.revoked_at),
    defaultLeaseTtlSeconds: row.default_lease_ttl_seconds,
  };
}

/**
 * The principal of an active token, or null. Read from the database on every request, not
 * cached: a revocation then takes effect at once, in every process.
 */
export async function principalOfToken(db: Kysely<DrydockDatabase>, token: string): Promise<Principal | null> {
  const row = await db
    .selectFrom("tokens")
    .select(["token_id", "owner", "role", "default_lease_ttl_seconds"])
    .where("token_hash", "=", hashToken(token))
    .where("status", "=", "active")
    .executeTakeFirst();
  return row ? { tokenId: row.token_id, owner: row.owner, role: row.role as Principal["role"], defaultLeaseTtlSeconds: row.default_lease_ttl_seconds } : null;
}

export async function getToken(db: Kysely<DrydockDatabase>, tokenId: string): Promise<TokenRecord> {
  const row = await db.selectFrom("tokens").selectAll().where("token_id", "=", tokenId).executeTakeFirst();
  if (!row) throw new NotFoundError("token", tokenId);
  return tokenRecordOf(row);
}

export async function listTokens(
  db: Kysely<DrydockDatabase>,
  filter: { owner?: string; status?: string[]; cursor?: string; limit: number },
): Promise<Page<TokenRecord>> {
  let q = db.selectFrom("tokens").selectAll().orderBy("token_id", "desc").limit(filter.limit + 1);
  if (filter.owner) q = q.where("owner", "=", filter.owner);
  if (filter.status && filter.status.length > 0) q = q.where("status", "in", filter.status);
  if (filter.cursor) q = q.where("token_id", "<", decodeCursor(filter.cursor));
  return pageOf(await q.execute(), filter.limit, (r) => r.token_id, tokenRecordOf);
}

export async function hasActiveAdminToken(db: Kysely<DrydockDatabase>): Promise<boolean> {
  const row = await db.selectFrom("tokens").select("token_id").where("role", "=", "admin").where("status", "=", "active").executeTakeFirst();
  return row !== undefined;
}

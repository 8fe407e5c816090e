import { sql, type ExpressionBuilder, type Kysely, type Selectable } from "kysely";
import { NotFoundError } from "../domain/errors";
import { decodeCursor, pageOf, type Page } from "../queries/pagination";
import type { DrydockDatabase, TokensTable } from "../store/schema";
import type { Principal } from "./principal";
import { hashToken } from "./token-secret";
import { compiledOnce, rowsOf } from "../store/compiled-once";
import { isoOrNull } from "../queries/iso-time";
import type { LeaseQuota } from "../domain/lease-quota";

/** A token as the API lists it: never the secret, never its hash. */
export interface TokenRecord {
  id: string;
  owner: string;
  role: "admin" | "client" | "metrics";
  /** "expired": active in the log, but past its expiresAt, so refused. */
  status: "active" | "revoked" | "expired";
  /** When it stops working by itself; null: never. */
  expiresAt: string | null;
  issuedBy: string;
  issuedAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
  /** The TTL of leases it asks for without naming one; null: the blueprint's or the service's applies. */
  defaultLeaseTtlSeconds: number | null;
  /** Live leases its owner may hold at once when asking with it; null: no quota. */
  leaseQuota: LeaseQuota | null;
}


export function tokenRecordOf(row: Selectable<TokensTable>, now: Date): TokenRecord {
  const expired = row.status === "active" && row.expires_at !== null && new Date(row.expires_at) <= now;
  return {
    id: row.token_id,
    owner: row.owner,
    role: row.role as TokenRecord["role"],
    status: expired ? "expired" : (row.status as TokenRecord["status"]),
    expiresAt: isoOrNull(row.expires_at),
    issuedBy: row.issued_by,
    issuedAt: isoOrNull(row.issued_at)!,
    revokedBy: row.revoked_by,
    revokedAt: isoOrNull(row.revoked_at),
    defaultLeaseTtlSeconds: row.default_lease_ttl_seconds,
    leaseQuota: row.lease_quota ?? null,
  };
}

/** A token that works at `now`: not revoked, and not past its expiresAt. */
function works(now: Date) {
  return (eb: ExpressionBuilder<DrydockDatabase, "tokens">) =>
    eb.and([eb("tokens.status", "=", "active"), eb.or([eb("tokens.expires_at", "is", null), eb("tokens.expires_at", ">", now)])]);
}

/**
 * The principal of an active token, or null. Read from the database on every request, not
 * cached: a revocation then takes effect at once, in every process.
 */
export async function principalOfToken(db: Kysely<DrydockDatabase>, token: string, now: Date): Promise<Principal | null> {
  return principalOfTokenHash(db, hashToken(token), now);
}

/** principalOfToken, by the token's hash (hashToken): for a caller that has hashed it already. */
export async function principalOfTokenHash(db: Kysely<DrydockDatabase>, hash: string, now: Date): Promise<Principal | null> {
  const [row] = await rowsOf(db, tokenByHash(db, { hash, now }));
  return row ? principalOf(row) : null;
}

/** Who owns a lease, as the access check compares it with the principal (auth-middleware.ts). */
export interface LeaseOwnership {
  owner: string;
  authorizingObject: string | null;
}

/**
 * principalOfTokenHash, and in the same statement who owns the lease the request is on (null: no
 * such lease): a client's every call on its lease (release, run, read a file) is checked against
 * it, and the two reads were two round trips.
 */
export async function principalOfTokenHashWithLease(db: Kysely<DrydockDatabase>, hash: string, now: Date, leaseId: string): Promise<{ principal: Principal; lease: LeaseOwnership | null } | null> {
  const [row] = await rowsOf(db, tokenByHashWithLease(db, { hash, now, leaseId }));
  if (!row) return null;
  return { principal: principalOf(row), lease: leaseOwnershipOf(row) };
}

/** One request's token lookup, as principalsOfTokens takes it: the token's hash (hashToken), the request's time, and the lease it is on (null: none). */
export interface TokenLookupRequest {
  hash: string;
  now: Date;
  leaseId: string | null;
}

/**
 * principalOfTokenHash and principalOfTokenHashWithLease for several requests in one statement: the
 * same test of each token at its own request's time (active, not past its expiry), and who owns
 * each request's lease. Still read from the database for every request: only the round trip is
 * shared (token-lookups.ts). Answers in the order asked; null: no working token.
 */
export async function principalsOfTokens(db: Kysely<DrydockDatabase>, asked: readonly TokenLookupRequest[]): Promise<({ principal: Principal; lease?: LeaseOwnership | null } | null)[]> {
  const { rows } = await sql<TokenWithLeaseRow & { i: number }>`
    SELECT r.i::int AS i, t.token_id, t.owner, t.role, t.default_lease_ttl_seconds, t.lease_quota, t.expires_at,
           l.owner AS lease_owner, l.authorizing_object AS lease_authorizing_object
      FROM unnest(${asked.map((a) => a.hash)}::text[], ${asked.map((a) => a.now)}::timestamptz[], ${asked.map((a) => a.leaseId)}::text[])
             WITH ORDINALITY AS r(hash, at, lease_id, i)
      JOIN tokens t ON t.token_hash = r.hash AND t.status = 'active' AND (t.expires_at IS NULL OR t.expires_at > r.at)
      LEFT JOIN leases l ON l.lease_id = r.lease_id`.execute(db);
  const byIndex = new Map(rows.map((row) => [Number(row.i), row]));
  return asked.map((a, k) => {
    const row = byIndex.get(k + 1);
    if (!row) return null;
    return a.leaseId === null ? { principal: principalOf(row) } : { principal: principalOf(row), lease: leaseOwnershipOf(row) };
  });
}

/** Who owns the lease the request named, from the lease's columns joined to the token's row; null: no such lease. */
function leaseOwnershipOf(row: Pick<TokenWithLeaseRow, "lease_owner" | "lease_authorizing_object">): LeaseOwnership | null {
  return row.lease_owner === null ? null : { owner: row.lease_owner, authorizingObject: row.lease_authorizing_object };
}

type TokenWithLeaseRow = Pick<Selectable<TokensTable>, "token_id" | "owner" | "role" | "default_lease_ttl_seconds" | "lease_quota" | "expires_at"> & {
  lease_owner: string | null;
  lease_authorizing_object: string | null;
};

function principalOf(row: Pick<Selectable<TokensTable>, "token_id" | "owner" | "role" | "default_lease_ttl_seconds" | "lease_quota" | "expires_at">): Principal {
  return {
    tokenId: row.token_id,
    owner: row.owner,
    role: row.role as Principal["role"],
    defaultLeaseTtlSeconds: row.default_lease_ttl_seconds,
    leaseQuota: row.lease_quota ?? null,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
  };
}

const PRINCIPAL_COLUMNS = ["token_id", "owner", "role", "default_lease_ttl_seconds", "lease_quota", "expires_at"] as const;

/** Every request sends one of these two: compiled once (compiled-once.ts). */
const tokenByHash = compiledOnce((db, { hash, now }: { hash: string; now: Date }) => db.selectFrom("tokens").select(PRINCIPAL_COLUMNS).where("token_hash", "=", hash).where(works(now)));

const tokenByHashWithLease = compiledOnce((db, { hash, now, leaseId }: { hash: string; now: Date; leaseId: string }) =>
  db
    .selectFrom("tokens")
    .leftJoin("leases", (join) => join.on("leases.lease_id", "=", leaseId))
    .select(PRINCIPAL_COLUMNS.map((c) => `tokens.${c}` as const))
    .select(["leases.owner as lease_owner", "leases.authorizing_object as lease_authorizing_object"])
    .where("tokens.token_hash", "=", hash)
    .where(works(now)),
);

/**
 * The token's terms (its default lease TTL and lease quota) if it works at `at`, as a query to
 * join into a statement the request sends anyway (the capacity view: allocation-snapshot.ts).
 */
export function tokenTermsQuery(db: Kysely<DrydockDatabase>, { tokenId, at }: { tokenId: string; at: Date }) {
  return db.selectFrom("tokens").select(["default_lease_ttl_seconds", "lease_quota", "version"]).where("token_id", "=", tokenId).where(works(at));
}

/**
 * The token if it works at `at`, its row locked FOR SHARE: the condition a request's write carries
 * when its token was not read before it (token-check.ts), checked in the write's own statement.
 */
export const tokenWorksForShare = compiledOnce((db, { tokenId, at }: { tokenId: string; at: Date }) =>
  db.selectFrom("tokens").select("token_id").where("token_id", "=", tokenId).where(works(at)).forShare(),
);

/** Whether the token still works (active, not expired): an open event stream asks every few seconds. */
export async function tokenStillValid(db: Kysely<DrydockDatabase>, tokenId: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom("tokens")
    .select("token_id")
    .where("token_id", "=", tokenId)
    .where(works(now))
    .executeTakeFirst();
  return row !== undefined;
}

export async function getToken(db: Kysely<DrydockDatabase>, tokenId: string, now: Date): Promise<TokenRecord> {
  const row = await db.selectFrom("tokens").selectAll().where("token_id", "=", tokenId).executeTakeFirst();
  if (!row) throw new NotFoundError("token", tokenId);
  return tokenRecordOf(row, now);
}

export async function listTokens(
  db: Kysely<DrydockDatabase>,
  filter: { owner?: string; status?: string[]; cursor?: string; limit: number },
  now: Date,
): Promise<Page<TokenRecord>> {
  let q = db.selectFrom("tokens").selectAll().orderBy("token_id", "desc").limit(filter.limit + 1);
  if (filter.owner) q = q.where("owner", "=", filter.owner);
  if (filter.status && filter.status.length > 0) q = q.where("status", "in", filter.status);
  if (filter.cursor) q = q.where("token_id", "<", decodeCursor(filter.cursor));
  return pageOf(await q.execute(), filter.limit, (r) => r.token_id, (r) => tokenRecordOf(r, now));
}

/** An admin token that works now (not revoked, not expired): without one, the next start makes one. */
export async function hasActiveAdminToken(db: Kysely<DrydockDatabase>, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom("tokens")
    .select("token_id")
    .where("role", "=", "admin")
    .where(works(now))
    .executeTakeFirst();
  return row !== undefined;
}

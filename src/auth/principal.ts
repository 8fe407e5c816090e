import type { TokenRole } from "../../events/token-events";
import type { LeaseQuota } from "../domain/lease-quota";

/** Who a request acts as: the token it came with, that token's owner (a client name) and role. */
export interface Principal {
  tokenId: string;
  owner: string;
  role: TokenRole;
  /** The TTL of leases this token asks for without naming one (src/domain/lease-ttl.ts); null or absent: none of its own. */
  defaultLeaseTtlSeconds?: number | null;
  /** Live leases the owner may hold at once, from this token (src/domain/lease-quota.ts); null or absent: none. */
  leaseQuota?: LeaseQuota | null;
  /** When the token stops working by itself (TokenIssued's expiresAt); null: never; absent: not read. */
  expiresAt?: Date | null;
}

export function isAdmin(principal: Principal): boolean {
  return principal.role === "admin";
}

/**
 * Client names. No colon: `resource:<id>` (a lease a resource holds), `blueprint:<id>` (a
 * blueprint as an authorizing object) and `allocator:<worker>` (an actor) are system names, and
 * a token must never be able to pose as one.
 */
export const ownerNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const RESERVED_OWNERS = new Set(["system", "anonymous"]);

export function ownerNameProblem(owner: string): string | null {
  if (!ownerNamePattern.test(owner)) return "letters, digits and . _ @ -, starting with a letter or digit, at most 64";
  if (RESERVED_OWNERS.has(owner.toLowerCase())) return `${JSON.stringify(owner)} is reserved`;
  return null;
}

/** An authorizing object: a client name, or `blueprint:<id>` for a blueprint that leases from another. */
export const authorizingObjectPattern = /^(blueprint:[a-z]{2}_[0-9a-z]{1,40}|[A-Za-z0-9][A-Za-z0-9._@-]{0,63})$/;

export function blueprintOfAuthorizingObject(client: string): string | null {
  return client.startsWith("blueprint:") ? client.slice("blueprint:".length) : null;
}

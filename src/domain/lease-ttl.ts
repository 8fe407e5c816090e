/**
 * Lease TTLs: how long a lease lives before the system releases it (reason `expired`), unless it
 * is renewed. A lease with no TTL lives until released, so it is something an admin asks for
 * explicitly; everything else gets a default, so an abandoned lease gives its slot back.
 *
 * Precedence, first that applies:
 *   1. the request's `ttlSeconds` (a number; `null`, for no TTL, from an admin only);
 *   2. the requesting token's `defaultLeaseTtlSeconds` (set by the admin who issued it);
 *   3. the acquiring blueprint's `defaultLeaseTtlSeconds` (from its config), counted from the
 *      moment the lease is acquired (LeaseAcquired.blueprintTtl): the blueprint is not known
 *      before the allocator picks it;
 *   4. the service's default (DRYDOCK_DEFAULT_LEASE_TTL, 3600 s; 0 turns it off), counted from
 *      the request. Until a lease is acquired this is the TTL it waits under, so an abandoned
 *      pending lease expires too.
 * A renewal sets the TTL from then on, whatever set it before.
 */

/** Longest TTL a lease may have: 30 days. */
export const MAX_TTL_SECONDS = 30 * 24 * 3600;

/** The service's default TTL when DRYDOCK_DEFAULT_LEASE_TTL is not set. */
export const DEFAULT_LEASE_TTL_SECONDS = 3600;

/**
 * What set a lease's current TTL. Events recorded before default TTLs carry no source: their TTL
 * (or its absence) was the request's, so they read as "request".
 */
export type TtlSource = "request" | "client" | "blueprint" | "service" | "renewal";
/** The sources LeaseRequested records (the blueprint's and a renewal's come later). */
export const REQUEST_TTL_SOURCES = ["request", "client", "service"] as const;
export type RequestTtlSource = (typeof REQUEST_TTL_SOURCES)[number];

export interface ResolvedTtl {
  ttlSeconds: number | null;
  source: RequestTtlSource;
}

/**
 * The TTL a new lease starts with (pure). `requested`: undefined when the request names none,
 * null when it asks for no TTL. The caller checks that only an admin asks for null.
 */
export function resolveRequestTtl(requested: number | null | undefined, clientDefault: number | null | undefined, serviceDefault: number | null): ResolvedTtl {
  if (requested !== undefined) return { ttlSeconds: requested, source: "request" };
  if (clientDefault !== undefined && clientDefault !== null) return { ttlSeconds: clientDefault, source: "client" };
  return { ttlSeconds: serviceDefault, source: "service" };
}

/**
 * Whether the acquiring blueprint's default replaces the lease's TTL (pure): only when no request
 * or client chose it and no renewal set it, i.e. it is still a default. A lease that lands on
 * another blueprint after its resource died (LeaseReacquiring) takes that blueprint's default.
 */
export function blueprintTtlApplies(source: TtlSource | undefined, blueprintDefault: number | null | undefined): blueprintDefault is number {
  if (blueprintDefault === undefined || blueprintDefault === null) return false;
  return source === "service" || source === "blueprint";
}

export function expiryAfter(from: Date, ttlSeconds: number): string {
  return new Date(from.getTime() + ttlSeconds * 1000).toISOString();
}

/**
 * A cap on a lease's life (issue #11, point 5; Vault's max TTL): a blueprint's `maxLeaseSeconds`.
 * No lease of the blueprint expires later than its request time plus the cap:
 *  - at acquisition, an expiry past the cap (a long TTL, or none at all) is cut to the cap
 *    (LeaseAcquired.capped);
 *  - a renewal past the cap is cut to it and says so (LeaseRenewed.capped, and the response's
 *    `capped`); a lease whose cap has passed cannot be renewed at all (409 naming the cap);
 *  - the cap in force is the blueprint's at the time (a PATCH changes it for later renewals; an
 *    expiry already set stays as it was). A pending lease has no blueprint yet, so no cap.
 */
export interface LeaseCap {
  maxLeaseSeconds: number;
  /** The latest expiry: request time + maxLeaseSeconds. */
  at: string;
}

/** The longest cap a blueprint may set: a year. */
export const MAX_LEASE_CAP_SECONDS = 365 * 24 * 3600;

export function leaseCapOf(requestedAt: string, maxLeaseSeconds: number | null | undefined): LeaseCap | null {
  if (maxLeaseSeconds === null || maxLeaseSeconds === undefined) return null;
  return { maxLeaseSeconds, at: expiryAfter(new Date(requestedAt), maxLeaseSeconds) };
}

/** An expiry under a cap (null: no expiry): the capped one, and the cap when it cut it. */
export function capExpiry(expiresAt: string | null, cap: LeaseCap | null): { expiresAt: string | null; capped: LeaseCap | null } {
  if (cap === null || (expiresAt !== null && Date.parse(expiresAt) <= Date.parse(cap.at))) return { expiresAt, capped: null };
  return { expiresAt: cap.at, capped: cap };
}

export type RenewalOutcome =
  | { kind: "renew"; ttlSeconds: number; expiresAt: string; capped: LeaseCap | null }
  /** The cap has passed (or leaves less than a second): no renewal. */
  | { kind: "past-cap"; cap: LeaseCap };

/** A renewal asked for `ttlSeconds` at `now`, under the lease's cap (pure). */
export function decideRenewal(ttlSeconds: number, now: Date, cap: LeaseCap | null): RenewalOutcome {
  const asked = expiryAfter(now, ttlSeconds);
  const { expiresAt, capped } = capExpiry(asked, cap);
  if (!capped) return { kind: "renew", ttlSeconds, expiresAt: asked, capped: null };
  const left = Math.floor((Date.parse(capped.at) - now.getTime()) / 1000);
  if (left < 1) return { kind: "past-cap", cap: capped };
  // The TTL says what is left under the cap; the expiry is the cap itself.
  return { kind: "renew", ttlSeconds: left, expiresAt: expiresAt!, capped };
}

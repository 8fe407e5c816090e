import type { Context, MiddlewareHandler } from "hono";
import type { Kysely } from "kysely";
import type { Access, RouteDeclaration } from "../auth/access-policy";
import { isAuthorized } from "../auth/authorization-queries";
import { LeaseOwners } from "../auth/lease-owners";
import { isAdmin, type Principal } from "../auth/principal";
import type { RateLimiter } from "../auth/rate-limiter";
import { TokenCheck } from "../auth/token-check";
import { TokenLookups } from "../auth/token-lookups";
import type { LeaseOwnership } from "../auth/token-queries";
import { bearerTokenOf } from "../auth/token-secret";
import { assertNever, ForbiddenError, NotFoundError, RateLimitedError, UnauthorizedError } from "../domain/errors";
import { idPattern } from "../domain/ids";
import type { Clock } from "../domain/clock";
import type { DrydockDatabase } from "../store/schema";
import type { ApiEnv } from "./api-env";
import type { RouteAccessTable } from "./route-access-table";

/**
 * Authenticates every request but the public ones by its bearer token, records the token's owner
 * as the request's actor, and enforces the access the matched route declares (route-access.ts;
 * none, or no route: admin) before any handler runs: admin-only routes refuse clients with 403; a
 * lease, resource or blueprint a client may not see answers 404, exactly as one that does not
 * exist, so ids cannot be probed.
 *
 * Runs before the body is read, so an unauthenticated request never gets its body parsed.
 *
 * On a route whose handler checks the token (RouteDeclaration.tokenCheckedByHandler: releasing a
 * lease, asking for one), a token this process has seen work, on a lease it knows the owner of,
 * is not read first: a statement the request sends anyway checks it (TokenCheck: the release's
 * write, the lease request's capacity view), so a revoked token stores nothing and gets 401. A
 * request that ends without that check (refused, failed) has its token read before its answer
 * goes out, and a token that no longer works gets the 401 instead.
 * Whatever this process does not know, or would refuse, goes the way of every other route: the
 * token read first, so every refusal is the one it always was.
 */
export function authMiddleware(table: RouteAccessTable, db: Kysely<DrydockDatabase>, limiter: RateLimiter, clock: Clock, owners = new LeaseOwners()): MiddlewareHandler<ApiEnv> {
  // Requests that arrive together share one token statement (token-lookups.ts).
  const lookups = new TokenLookups(db);
  return async (c, next) => {
    const { declaration, access } = table.lookup(c.req.method, c.req.path);
    // The route's declaring middleware checks that this is its own declaration.
    c.set("routeAccess", declaration);
    if (access.kind === "public") return next();
    const token = bearerTokenOf(c.req.header("authorization"));
    const now = clock.now();
    // A request on a lease reads who owns it with the token, in one statement.
    const leaseId = access.kind === "lease" && idPattern.test(access.leaseId) ? access.leaseId : null;
    const known = token && declaration?.tokenCheckedByHandler ? lookups.known(token, now) : null;
    if (token && known && allowedAsKnown(access, known, leaseId === null ? undefined : owners.get(leaseId))) {
      const check = new TokenCheck(db, known.tokenId, now, async () => (await lookups.lookup(token, now, null))?.principal ?? null);
      c.set("tokenCheck", check);
      try {
        admit(c, declaration, known, limiter);
      } catch (error) {
        // Refused before the handler (rate limited): a token that no longer works gets its 401 instead.
        await check.principal();
        throw error;
      }
      await next();
      // Nothing held the check (the request failed, or stored nothing): the token is read now.
      if (!check.checked && !(c.error instanceof UnauthorizedError)) await check.principal();
      return;
    }
    // The principal, and who owns the lease when the request is on one; null: no working token.
    const found = token ? await lookups.lookup(token, now, leaseId) : null;
    // Missing, malformed, unknown, revoked and expired tokens get one answer: which it was helps only an attacker.
    if (!found) throw new UnauthorizedError();
    const { principal } = found;
    if (leaseId !== null && found.lease) owners.remember(leaseId, found.lease);
    admit(c, declaration, principal, limiter);
    await enforce(db, access, principal, found.lease);
    await next();
  };
}

/** Records the principal and the actor on the request, and takes from its token's rate limit. */
function admit(c: Context<ApiEnv>, declaration: RouteDeclaration | null, principal: Principal, limiter: RateLimiter): void {
  c.set("principal", principal);
  c.set("actor", { actor: principal.owner, tokenId: principal.tokenId, requestId: c.get("requestId") });
  const cls = declaration?.rateLimit ?? null;
  if (cls) {
    const taken = limiter.take(principal.tokenId, cls);
    if (!taken.ok) throw new RateLimitedError(cls === "leases" ? "lease requests" : "commands", taken.retryAfterSeconds);
  }
}

/**
 * Whether the access allows a known token without a read: an admin; a client on a route any
 * token may use, or on its own lease (`lease`: who owns it, as remembered; undefined: not known).
 * False sends the request the usual way, read first, so that refusals stay what they were.
 */
function allowedAsKnown(access: Exclude<Access, { kind: "public" }>, principal: Principal, lease: LeaseOwnership | undefined): boolean {
  if (isAdmin(principal)) return true;
  if (principal.role !== "client") return false;
  switch (access.kind) {
    case "any":
      return true;
    case "lease":
      return lease !== undefined && lease.owner === principal.owner && lease.authorizingObject === principal.owner;
    case "admin":
    case "metrics":
    case "resource":
    case "blueprint":
      return false;
    default:
      return assertNever(access, "access");
  }
}


/** No such thing for this principal; a malformed id never reaches SQL (a NUL would make the driver fail). */
function hidden(kind: string, id: string): NotFoundError {
  return new NotFoundError(kind, id.length > 80 ? `${id.slice(0, 80)}…` : id);
}

/** `lease`: who owns the lease the request is on, read with the token (null: no such lease); undefined: not read. */
async function enforce(db: Kysely<DrydockDatabase>, access: Exclude<Access, { kind: "public" }>, principal: Principal, lease: LeaseOwnership | null | undefined): Promise<void> {
  if (isAdmin(principal)) return;
  // A scraper's token reads the metrics and nothing else.
  if (access.kind === "metrics") {
    if (principal.role === "metrics") return;
    throw new ForbiddenError("this requires the admin or metrics role");
  }
  if (principal.role === "metrics") throw new ForbiddenError("a metrics token may only read /metrics");
  switch (access.kind) {
    case "any":
      return;
    case "admin":
      throw new ForbiddenError("this requires the admin role");
    case "lease": {
      if (!idPattern.test(access.leaseId)) throw hidden("lease", access.leaseId);
      // The principal, not just the name: a client's own lease names it as owner and as
      // authorizing object; an admin's has none, whatever its owner is called (src/auth/scope.ts).
      // Read with the token (authMiddleware); not read at all would be a bug, and refuses too.
      if (!lease || lease.owner !== principal.owner || lease.authorizingObject !== principal.owner) throw hidden("lease", access.leaseId);
      return;
    }
    case "resource": {
      if (!idPattern.test(access.resourceId)) throw hidden("resource", access.resourceId);
      const row = await db
        .selectFrom("leases")
        .select("lease_id")
        .where("resource_id", "=", access.resourceId)
        .where("owner", "=", principal.owner)
        .where("authorizing_object", "=", principal.owner)
        .executeTakeFirst();
      if (!row) throw hidden("resource", access.resourceId);
      return;
    }
    case "blueprint":
      if (!idPattern.test(access.blueprintId) || !(await isAuthorized(db, access.blueprintId, principal.owner))) throw hidden("blueprint", access.blueprintId);
      return;
    default:
      assertNever(access, "access");
  }
}

/**
 * Who may call a route: each route declares an AccessRule where it is defined (src/api/route-access.ts),
 * and the auth middleware resolves the rule of the route a request matches into an Access (with
 * the ids the route will see) before any handler runs and before the body is read.
 *
 * A route that declares nothing, and a path no route matches, is for admins: a new route is
 * closed to clients until someone decides it should be open.
 */
import { assertNever } from "../domain/errors";

/** What a route declares: the kind, and for the visibility kinds the name of the path parameter that holds the id. */
export type AccessRule =
  /** No token needed. */
  | { kind: "public" }
  /** Admins only; a client gets 403. */
  | { kind: "admin" }
  /** Any valid token; the handler scopes what a client sees. */
  | { kind: "any" }
  /** A lease's own routes: a client reaches only the leases it owns; others answer 404. */
  | { kind: "lease"; param: string }
  /** A client sees a resource only when one of its leases is or was on it; others answer 404. */
  | { kind: "resource"; param: string }
  /** A client sees a blueprint only when it is authorized to use it; others answer 404. */
  | { kind: "blueprint"; param: string }
  /** Prometheus metrics: an admin or a metrics token; a metrics token reaches nothing else. */
  | { kind: "metrics" };

/** A rule applied to one request: the visibility kinds carry the id from the path. */
export type Access =
  | { kind: "public" }
  | { kind: "admin" }
  | { kind: "any" }
  | { kind: "lease"; leaseId: string }
  | { kind: "resource"; resourceId: string }
  | { kind: "blueprint"; blueprintId: string }
  | { kind: "metrics" };

/** The per-token rate limit a route's requests count against: asking for leases, running commands. */
export type RateLimitClass = "leases" | "commands";

/** What one route declares: its rule, and the rate limit its requests count against (null: none). */
export interface RouteDeclaration {
  readonly rule: AccessRule;
  readonly rateLimit: RateLimitClass | null;
  /**
   * The route's handler checks the request's token itself (TokenCheck, src/auth/token-check.ts):
   * a token the process knows needs no read before the handler, which must hand the check
   * (`c.get("tokenCheck")`) to the statement that stores the request's effect, or to the read
   * its decision is made from, or read it (`principal()`) before it stores anything. The
   * principal then holds the token's id, owner, role and expiry alone (TokenLookups.known): the
   * rest (a lease quota, a default TTL) comes from that check.
   */
  readonly tokenCheckedByHandler: boolean;
}

/** The rules, as routes write them: `access: rules.lease("id")`. */
export const rules = {
  public: { kind: "public" },
  admin: { kind: "admin" },
  any: { kind: "any" },
  metrics: { kind: "metrics" },
  lease: (param: string) => ({ kind: "lease", param }),
  resource: (param: string) => ({ kind: "resource", param }),
  blueprint: (param: string) => ({ kind: "blueprint", param }),
} as const satisfies Record<string, AccessRule | ((param: string) => AccessRule)>;

/**
 * The Access of a request to a route with this rule (undefined: the route declared none, or no
 * route matched: admin). `params` are the route's path parameters, decoded as the route sees them;
 * a parameter the rule names but the route lacks resolves to "", which no id matches (404).
 */
export function resolveAccess(rule: AccessRule | undefined, params: Readonly<Record<string, string>>): Access {
  if (rule === undefined) return { kind: "admin" };
  switch (rule.kind) {
    case "public":
    case "admin":
    case "any":
    case "metrics":
      return { kind: rule.kind };
    case "lease":
      return { kind: "lease", leaseId: params[rule.param] ?? "" };
    case "resource":
      return { kind: "resource", resourceId: params[rule.param] ?? "" };
    case "blueprint":
      return { kind: "blueprint", blueprintId: params[rule.param] ?? "" };
    default:
      return assertNeverRule(rule);
  }
}

function assertNeverRule(rule: never): never {
  throw new Error(`unknown access rule ${JSON.stringify(rule)}`);
}

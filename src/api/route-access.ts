import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { rules, type AccessRule, type RateLimitClass, type RouteDeclaration } from "../auth/access-policy";
import type { ApiEnv } from "./api-env";

/**
 * How a route declares who may call it: where it is defined, never in a second table.
 *
 * - An OpenAPI route is made with `defineRoute({ access, rateLimit?, ...createRoute's config })`:
 *   the rule goes into the OpenAPI document as `x-drydock-access` (and `x-drydock-rate-limit`),
 *   and onto the route's handler chain as a declaring middleware.
 * - A plain route puts the declaring middleware first in its handlers:
 *   `app.get("/console", publicRoute, handler)`, `app.put(FILE, access(rules.lease("id")), handler)`.
 *
 * The declaring middleware does no checking of its own. At the first request (and again whenever
 * routes were added) RouteAccessTable (route-access-table.ts) reads every registered route's
 * declaration from `app.routes`, and the auth middleware, which runs before the body limit, the
 * validators and any handler, enforces the declaration of the route the request matches. A route
 * without one is admin-only.
 *
 * The declaring middleware then checks that the declaration the auth middleware enforced is its
 * own: a route the table did not see, or that another route's declaration shadowed, fails with a
 * 500 instead of being served under the wrong rule.
 */

const DECLARATION = Symbol.for("drydock.route-declaration");

type Declaring = MiddlewareHandler<ApiEnv> & { readonly [DECLARATION]: RouteDeclaration };

/** The declaring middleware of a route: put it first in a plain route's handlers. */
export function access(rule: AccessRule, options: { rateLimit?: RateLimitClass; tokenCheckedByHandler?: boolean } = {}): MiddlewareHandler<ApiEnv> {
  const declaration: RouteDeclaration = Object.freeze({ rule, rateLimit: options.rateLimit ?? null, tokenCheckedByHandler: options.tokenCheckedByHandler ?? false });
  const declaring: MiddlewareHandler<ApiEnv> = async (c, next) => {
    // undefined: no auth middleware ran (a sub-app tested on its own); null: it found no declaration.
    const enforced = c.get("routeAccess");
    if (enforced !== undefined && enforced !== declaration) {
      throw new Error(`${c.req.method} ${c.req.path}: the access enforced (${JSON.stringify(enforced)}) is not the route's own (${JSON.stringify(declaration)})`);
    }
    await next();
  };
  return Object.assign(declaring, { [DECLARATION]: declaration });
}

/** For a plain route anyone may call without a token: `app.get("/console", publicRoute, handler)`. */
export const publicRoute = access(rules.public);

/**
 * The declaration a handler carries, if it is a declaring middleware. Hono wraps the handlers of
 * a sub-app that has its own error handler (`app.route(...)`), keeping the original under
 * `__COMPOSED_HANDLER`; that one is looked at too.
 */
export function declarationOf(handler: unknown): RouteDeclaration | undefined {
  if (typeof handler !== "function") return undefined;
  const own = (handler as Partial<Declaring>)[DECLARATION];
  if (own) return own;
  const inner = (handler as { __COMPOSED_HANDLER?: unknown }).__COMPOSED_HANDLER;
  return inner === undefined ? undefined : declarationOf(inner);
}

type DeclaredRouteConfig<P extends string> = Omit<RouteConfig, "path" | "middleware"> & {
  path: P;
  /** Who may call it (src/auth/access-policy.ts). */
  access: AccessRule;
  /** The per-token rate limit its requests count against. */
  rateLimit?: RateLimitClass;
  /** Its handler checks the token, in a statement it sends anyway (RouteDeclaration.tokenCheckedByHandler). */
  tokenCheckedByHandler?: boolean;
};

/**
 * `createRoute` with the route's access declared: `defineRoute({ access: rules.lease("id"), method, path, ... })`.
 * The access is required here, so an OpenAPI route cannot be defined without deciding it.
 */
export function defineRoute<P extends string, R extends DeclaredRouteConfig<P>>(config: R): Omit<R, "access" | "rateLimit" | "tokenCheckedByHandler"> & { middleware: MiddlewareHandler<ApiEnv>[] } {
  const { access: rule, rateLimit, tokenCheckedByHandler, ...route } = config;
  return createRoute({
    // A public route needs no token, and the document says so (the default is the bearer token).
    ...(rule.kind === "public" && route.security === undefined ? { security: [] } : {}),
    ...route,
    "x-drydock-access": rule,
    ...(rateLimit ? { "x-drydock-rate-limit": rateLimit } : {}),
    middleware: [access(rule, { ...(rateLimit ? { rateLimit } : {}), ...(tokenCheckedByHandler ? { tokenCheckedByHandler } : {}) })],
  } as unknown as RouteConfig) as unknown as Omit<R, "access" | "rateLimit" | "tokenCheckedByHandler"> & { middleware: MiddlewareHandler<ApiEnv>[] };
}

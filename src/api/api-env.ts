import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { RouteDeclaration } from "../auth/access-policy";
import type { Principal } from "../auth/principal";
import type { TokenCheck } from "../auth/token-check";
import type { Actor } from "../commands/command-context";

/** What the request middleware puts on every request's context for the route handlers. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /**
     * Set by the auth middleware from the bearer token, on every route but the public ones:
     * recorded on every event the request appends (the token's owner, and the token's id).
     */
    actor: Actor;
    /** The token's id, owner and role; the owner also owns the leases the request asks for. */
    principal: Principal;
    /**
     * The declaration of the route the request matched, as the auth middleware enforced it (null:
     * none, so admin-only); the route's declaring middleware checks it is its own (route-access.ts).
     */
    routeAccess: RouteDeclaration | null;
    /**
     * On a route whose handler checks the token (RouteDeclaration.tokenCheckedByHandler), when
     * the auth middleware did not read it: the check to hand to the statement that carries it.
     */
    tokenCheck: TokenCheck | undefined;
  };
}

export type ApiApp = OpenAPIHono<ApiEnv>;
export type ApiContext = Context<ApiEnv>;

import { randomBytes } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { ApiEnv } from "./api-env";

/** A client's own request id is kept when it is short and plain (it ends up in logs and events). */
const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
const actorPattern = /^[A-Za-z0-9._@:-]{1,64}$/;

export const REQUEST_ID_HEADER = "X-Request-Id";
export const ACTOR_HEADER = "X-Drydock-Actor";

export function newRequestId(): string {
  return `rq_${randomBytes(9).toString("base64url")}`;
}

/**
 * Gives each request an id (echoed in X-Request-Id, recorded on its events) and an actor.
 * Runs first, so error responses carry the id too.
 */
export function requestContext(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const offered = c.req.header(REQUEST_ID_HEADER);
    const requestId = offered && requestIdPattern.test(offered) ? offered : newRequestId();
    c.set("requestId", requestId);
    // TODO: actor from the bearer token (auth issue)
    const named = c.req.header(ACTOR_HEADER);
    c.set("actor", { actor: named && actorPattern.test(named) ? named : "anonymous", requestId });
    c.header(REQUEST_ID_HEADER, requestId);
    await next();
    // Responses built without c.json/c.body (e.g. a middleware's own Response) lack the header.
    if (!c.res.headers.has(REQUEST_ID_HEADER)) c.res.headers.set(REQUEST_ID_HEADER, requestId);
  };
}

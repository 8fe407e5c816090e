import { pooledRandomBytes } from "../domain/random-pool";
import type { MiddlewareHandler } from "hono";
import type { ApiEnv } from "./api-env";

/** A client's own request id is kept when it is short and plain (it ends up in logs and events). */
const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

export const REQUEST_ID_HEADER = "X-Request-Id";

export function newRequestId(): string {
  return `rq_${pooledRandomBytes(9).toString("base64url")}`;
}

/**
 * Gives each request an id (echoed in X-Request-Id, recorded on its events). Runs first, so error
 * responses carry the id too. The actor comes from the bearer token (auth-middleware.ts), never
 * from a header the client names itself with.
 */
export function requestContext(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const offered = c.req.header(REQUEST_ID_HEADER);
    const requestId = offered && requestIdPattern.test(offered) ? offered : newRequestId();
    c.set("requestId", requestId);
    c.header(REQUEST_ID_HEADER, requestId);
    await next();
    // Responses built without c.json/c.body (e.g. a middleware's own Response) lack the header.
    if (!c.res.headers.has(REQUEST_ID_HEADER)) c.res.headers.set(REQUEST_ID_HEADER, requestId);
  };
}

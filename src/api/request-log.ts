import type { MiddlewareHandler } from "hono";
import type { Logger } from "../service/logger";
import type { ApiEnv } from "./api-env";
import { routePatternOf } from "./metrics-route";

/**
 * One log record per request once it is answered: its id, the route's pattern, the status, the
 * time taken, and who asked (the token's id and owner: never the token). A request on a lease,
 * resource or blueprint names it. Health checks are logged at debug, so a load balancer's
 * polling does not fill the log.
 */
export function logRequests(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePatternOf(c);
    const principal = c.get("principal");
    const id = c.req.param("id");
    const subject = id === undefined ? {} : route.startsWith("/v1/leases/") ? { leaseId: id } : route.startsWith("/v1/resources/") ? { resourceId: id } : route.startsWith("/v1/blueprints/") ? { blueprintId: id } : {};
    const record = {
      requestId: c.get("requestId"),
      method: c.req.method,
      route,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...(principal ? { tokenId: principal.tokenId, owner: principal.owner } : {}),
      ...subject,
    };
    if (route === "/healthz") logger.debug(record, "request");
    else logger.info(record, "request");
  };
}

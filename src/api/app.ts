import { OpenAPIHono } from "@hono/zod-openapi";
import { LeaseOwners } from "../auth/lease-owners";
import { DEFAULT_RATE_LIMITS, RateLimiter, type RateLimits } from "../auth/rate-limiter";
import { registerConsole } from "../console/console-routes";
import type { Drydock } from "../service/drydock";
import type { ApiEnv } from "./api-env";
import { authMiddleware } from "./auth-middleware";
import { limitBody } from "./body-limit";
import { registerAuthorizationRoutes } from "./authorization-routes";
import { registerBlueprintRoutes } from "./blueprint-routes";
import { errorBody, handleError } from "./error-handler";
import { registerEventRoutes } from "./event-routes";
import { htmlSecurityHeaders } from "./html-security";
import { registerLeaseHttpdRoutes } from "./lease-httpd-routes";
import { registerLeaseInterfaceRoutes } from "./lease-interface-routes";
import { isFileUpload, registerLeaseFileRoutes } from "./lease-file-routes";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FILE_BYTES } from "./request-limits";
import { registerLeaseRoutes } from "./lease-routes";
import { countRequests, registerMetricsRoute } from "./metrics-route";
import { logRequests } from "./request-log";
import { requestContext } from "./request-context";
import { registerResourceRoutes } from "./resource-routes";
import { RouteAccessTable } from "./route-access-table";
import { registerSystemRoutes } from "./system-routes";
import { registerTokenRoutes } from "./token-routes";
import { validationHook } from "./validation-hook";

export interface AppOptions {
  /** Largest request body accepted, in bytes (default 1 MiB); file uploads apart. */
  maxBodyBytes?: number;
  /** Largest file upload (PUT /v1/leases/{id}/files/{path}) accepted, in bytes (default 1 GiB): it streams to the lease. */
  maxFileBytes?: number;
  /** Per-token limits on lease requests and commands (default DEFAULT_RATE_LIMITS); null turns one off. */
  rateLimits?: Partial<RateLimits>;
  /** The rate limiter's clock in milliseconds (default performance.now); tests move it by hand. */
  rateLimitClock?: () => number;
}

export { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FILE_BYTES } from "./request-limits";

/** The HTTP API (v1) of one Drydock, with its OpenAPI document at /openapi.json and Swagger UI at /docs. */
export function createApp(drydock: Drydock, options: AppOptions = {}): OpenAPIHono<ApiEnv> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });

  app.use(requestContext());
  app.use(countRequests(drydock.metrics));
  app.use(logRequests(drydock.logger));
  app.use(htmlSecurityHeaders());
  // Before the body limit: a request without a valid token is refused before its body is read.
  // Each route declares its access where it is defined (route-access.ts); the table reads the
  // declarations of the routes registered below (and of any mounted later) at the first request.
  // Who owns the leases this process made or read: the auth middleware checks a request on one
  // without a read when the route's write checks the token (auth-middleware.ts).
  const leaseOwners = new LeaseOwners();
  app.use(authMiddleware(new RouteAccessTable(app), drydock.database.db, new RateLimiter({ ...DEFAULT_RATE_LIMITS, ...options.rateLimits }, options.rateLimitClock), drydock.clock, leaseOwners));
  // A file upload streams to the lease under a limit of its own (lease-file-routes.ts).
  app.use(limitBody(maxBodyBytes, isFileUpload));

  registerSystemRoutes(app, drydock);
  registerLeaseRoutes(app, drydock, leaseOwners);
  registerLeaseInterfaceRoutes(app, drydock);
  registerLeaseFileRoutes(app, drydock, { maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES });
  registerLeaseHttpdRoutes(app, drydock);
  registerResourceRoutes(app, drydock);
  registerBlueprintRoutes(app, drydock);
  registerEventRoutes(app, drydock);
  registerTokenRoutes(app, drydock);
  registerAuthorizationRoutes(app, drydock);
  registerMetricsRoute(app, drydock);
  registerConsole(app);

  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => handleError(error, c, drydock.logger));
  return app;
}

import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { DrydockMetrics } from "../metrics/drydock-metrics";
import type { Drydock } from "../service/drydock";
import type { ApiApp, ApiEnv } from "./api-env";
import { rules } from "../auth/access-policy";
import { defineRoute } from "./route-access";

const metricsRoute = defineRoute({
  access: rules.metrics,
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics (an admin or a metrics token)",
  description:
    "The pool (leases, resources, failing blueprint targets, the work queue) as read from the database at each scrape, the same from every process; and this process's counters (appends, allocation decisions, provider errors, HTTP requests). `drydock token create --owner prometheus --role metrics` makes a token that reads this and nothing else.",
  responses: {
    200: { description: "The Prometheus text format", content: { "text/plain": { schema: z.string() } } },
  },
});

export function registerMetricsRoute(app: ApiApp, drydock: Drydock): void {
  app.openapi(metricsRoute, async (c) => {
    const text = await drydock.metrics.registry.metrics();
    return c.text(text, 200, { "content-type": drydock.metrics.registry.contentType });
  });
}

/** The pattern of the route that answered (`/v1/leases/:id`), never its path; "unmatched" when none did. */
export function routePatternOf(c: Context): string {
  return matchedRoutes(c).filter((r) => r.method !== "ALL").at(-1)?.path ?? "unmatched";
}

/**
 * Counts every request by the pattern of the route that answered it (`/v1/leases/:id`), never
 * its path, so ids never become label values. A request no route answered counts as "unmatched".
 */
export function countRequests(metrics: DrydockMetrics): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    await next();
    const route = routePatternOf(c);
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
  };
}

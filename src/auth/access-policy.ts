/**
 * Who may call which route, decided from the method and the path alone (pure), before any
 * handler runs. Clients get an allow-list; every other route, including ones added later, is for
 * admins: a new route is closed to clients until someone decides it should be open.
 *
 * The path is the one Hono routes by (percent-decoded except for `%2F`), so an id segment here is
 * exactly the `:id` the route sees.
 */
export type Access =
  /** No token needed. */
  | { kind: "public" }
  /** Admins only; a client gets 403. */
  | { kind: "admin" }
  /** Any valid token; the handler scopes what a client sees. */
  | { kind: "any" }
  /** A lease's own routes: a client reaches only the leases it owns; others answer 404. */
  | { kind: "lease"; leaseId: string }
  /** A client sees a resource only when one of its leases is or was on it; others answer 404. */
  | { kind: "resource"; resourceId: string }
  /** A client sees a blueprint only when it is authorized to use it; others answer 404. */
  | { kind: "blueprint"; blueprintId: string }
  /** Prometheus metrics: an admin or a metrics token; a metrics token reaches nothing else. */
  | { kind: "metrics" };

export type RateLimitClass = "leases" | "commands";

const LEASE = /^\/v1\/leases\/([^/]+)(?:\/.*)?$/;
const RESOURCE = /^\/v1\/resources\/([^/]+)$/;
const BLUEPRINT = /^\/v1\/blueprints\/([^/]+)$/;
const BLUEPRINT_AUTHORIZATIONS = /^\/v1\/blueprints\/[^/]+\/authorizations$/;
const AUTHORIZATION = /^\/v1\/authorizations\/[^/]+$/;
const COMMANDS = /^\/v1\/leases\/[^/]+\/commands(?:\/.*)?$/;
const DOCS_ASSET = /^\/docs\/assets\/[^/]+$/;

export function accessFor(method: string, path: string): Access {
  const m = method.toUpperCase();
  const read = m === "GET" || m === "HEAD";
  // The health check must answer a load balancer; /docs is a page with no data of its own,
  // which asks for a token before it fetches the (protected) OpenAPI document; its assets are
  // Swagger UI's files and the page's script.
  if (read && (path === "/healthz" || path === "/docs" || DOCS_ASSET.test(path))) return { kind: "public" };
  if (read && path === "/openapi.json") return { kind: "any" };
  if (read && path === "/metrics") return { kind: "metrics" };
  if (path === "/v1/leases") return read || m === "POST" ? { kind: "any" } : { kind: "admin" };
  const lease = LEASE.exec(path);
  if (lease) return { kind: "lease", leaseId: lease[1]! };
  if (read && (path === "/v1/blueprints" || path === "/v1/resources" || path === "/v1/authorizations")) return { kind: "any" };
  if (read && AUTHORIZATION.test(path)) return { kind: "any" };
  const blueprint = BLUEPRINT.exec(path);
  if (read && blueprint) return { kind: "blueprint", blueprintId: blueprint[1]! };
  const resource = RESOURCE.exec(path);
  if (read && resource) return { kind: "resource", resourceId: resource[1]! };
  if (m === "POST" && BLUEPRINT_AUTHORIZATIONS.test(path)) return { kind: "any" };
  return { kind: "admin" };
}

/** The per-token rate limit a request counts against, if any: asking for leases, running commands. */
export function rateLimitClassOf(method: string, path: string): RateLimitClass | null {
  if (method.toUpperCase() !== "POST") return null;
  if (path === "/v1/leases") return "leases";
  if (COMMANDS.test(path)) return "commands";
  return null;
}

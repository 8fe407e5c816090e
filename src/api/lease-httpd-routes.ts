import { z } from "@hono/zod-openapi";
import { rules } from "../auth/access-policy";
import { DomainError, InterfaceUnavailableError, NotFoundError } from "../domain/errors";
import { idPattern } from "../domain/ids";
import type { LeaseInterfaces } from "../blueprints/blueprint";
import { MAX_HTTPD_PORT, MIN_HTTPD_PORT, type HttpdInterface } from "../interfaces/httpd-interface";
import { HttpdRegistry, type HttpdStatus } from "../interfaces/httpd-registry";
import type { Drydock } from "../service/drydock";
import type { ApiApp, ApiContext } from "./api-env";
import { proxyRequest } from "./httpd-proxy";
import { idParams } from "./params";
import { access, defineRoute } from "./route-access";
import { ErrorSchema, errorResponses } from "./schemas";

/**
 * A lease's web server and its proxy (issue #12, httpd):
 *
 *   POST   /v1/leases/{id}/httpd          {argv, port, cwd?}  start it (409 while one runs)
 *   GET    /v1/leases/{id}/httpd          its state, its URI and the tail of its output
 *   POST   /v1/leases/{id}/httpd/restart  {argv?, port?, cwd?}  stop it, start it again
 *   DELETE /v1/leases/{id}/httpd          stop it
 *   ANY    /v1/leases/{id}/http/…         proxied to the server (httpd-proxy.ts)
 *
 * Every route is the lease's own (rules.lease): its owner or an admin; anyone else gets 404, as
 * for the lease itself. Each request resolves the lease's interfaces afresh, so a lease that is
 * no longer active is refused (409), and its server, if this process still knows one, is
 * stopped and forgotten. Nothing here appends events (httpd-registry.ts says why).
 */

const KIB = 1024;

const argvSchema = z
  .array(z.string().max(64 * KIB))
  .min(1)
  .max(256)
  .refine((argv) => argv[0] !== "", { message: "argv[0] must not be empty", path: [0] })
  .openapi({ example: ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"] });
const portSchema = z
  .number()
  .int()
  .min(MIN_HTTPD_PORT)
  .max(MAX_HTTPD_PORT)
  .openapi({ description: `The port the server listens on, on the lease's host (127.0.0.1 is enough): ${MIN_HTTPD_PORT}–${MAX_HTTPD_PORT}.`, example: 8000 });
const cwdSchema = z.string().min(1).max(4096).openapi({ description: "Where it starts, relative to the lease's working directory." });

const HttpdStartSchema = z.strictObject({ argv: argvSchema, port: portSchema, cwd: cwdSchema.optional() }).openapi("HttpdStart");
const HttpdRestartSchema = z.strictObject({ argv: argvSchema.optional(), port: portSchema.optional(), cwd: cwdSchema.optional() }).openapi("HttpdRestart");

export const HttpdStatusSchema = z
  .object({
    leaseId: z.string(),
    state: z.enum(["running", "exited", "stopped"]),
    program: z.string().openapi({ description: "argv[0]; the arguments are never shown (they may hold secrets)." }),
    port: z.number().int(),
    uri: z.string().openapi({ description: "Where the server is reached, through Drydock (send the same bearer token)." }),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    error: z.string().nullable().openapi({ description: "Why it ended, when not by itself (the connection to its host was lost, its cwd is gone)." }),
    output: z.string().openapi({ description: "The last 8 KiB of its output, stdout and stderr interleaved." }),
  })
  .openapi("HttpdStatus");

const leaseAccess = rules.lease("id");
const statusContent = { "application/json": { schema: HttpdStatusSchema } };

export const startHttpdRoute = defineRoute({
  access: leaseAccess,
  method: "post",
  path: "/v1/leases/{id}/httpd",
  summary: "Start a web server in the lease, proxied at /v1/leases/{id}/http/",
  description:
    "Runs argv like a command of the lease (its directory, its sandbox, its markers) until it is stopped or the lease ends. " +
    "It must listen on `port` on the lease's host; 127.0.0.1 is enough, and no port needs to be open to the network.",
  request: { params: idParams, body: { required: true, content: { "application/json": { schema: HttpdStartSchema } } } },
  responses: { 201: { description: "Started (or already exited: see state and output)", content: statusContent }, ...errorResponses(400, 404, 409, 503) },
});

export const httpdStatusRoute = defineRoute({
  access: leaseAccess,
  method: "get",
  path: "/v1/leases/{id}/httpd",
  summary: "The lease's web server: its state, URI and last output",
  request: { params: idParams },
  responses: { 200: { description: "The server this API process started for the lease", content: statusContent }, ...errorResponses(404, 409) },
});

export const restartHttpdRoute = defineRoute({
  access: leaseAccess,
  method: "post",
  path: "/v1/leases/{id}/httpd/restart",
  summary: "Stop the lease's web server, wait for it to end, and start it again",
  description: "With the argv, port and cwd it ran with, or those the body names.",
  request: { params: idParams, body: { required: false, content: { "application/json": { schema: HttpdRestartSchema } } } },
  responses: { 200: { description: "Started again", content: statusContent }, ...errorResponses(400, 404, 409, 503) },
});

export const stopHttpdRoute = defineRoute({
  access: leaseAccess,
  method: "delete",
  path: "/v1/leases/{id}/httpd",
  summary: "Stop the lease's web server (TERM to its process tree, then KILL)",
  request: { params: idParams },
  responses: { 200: { description: "Stopped", content: statusContent }, ...errorResponses(404, 409) },
});

const PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const PROXY_ROOT = "/v1/leases/:id/http";
const PROXY_PATH = "/v1/leases/:id/http/:path{.*}";

export function registerLeaseHttpdRoutes(app: ApiApp, drydock: Drydock): HttpdRegistry {
  // Per process (per app), like running commands: see httpd-registry.ts.
  const registry = new HttpdRegistry(() => drydock.clock.now());

  /** The lease's interfaces while it is active; a lease that is not has its server forgotten. */
  const interfacesOf = async (id: string): Promise<LeaseInterfaces> => {
    try {
      return await drydock.interfaces.forLease(id);
    } catch (error) {
      if (error instanceof DomainError && (error.code === "transition_refused" || error.code === "not_found")) await registry.forget(id);
      throw error;
    }
  };
  const httpdOf = (interfaces: LeaseInterfaces, id: string): HttpdInterface => {
    if (!interfaces.httpd) throw new InterfaceUnavailableError(`lease ${id}'s blueprint offers no httpd interface`);
    return interfaces.httpd;
  };
  const withUri = (c: ApiContext, status: HttpdStatus) => ({ ...status, uri: `${new URL(c.req.url).origin}/v1/leases/${status.leaseId}/http/` });

  app.openapi(startHttpdRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const httpd = httpdOf(await interfacesOf(id), id);
    const status = await registry.start(id, httpd, { argv: body.argv, port: body.port, ...(body.cwd !== undefined ? { cwd: body.cwd } : {}) });
    return c.json(withUri(c, status), 201);
  });

  app.openapi(httpdStatusRoute, async (c) => {
    const { id } = c.req.valid("param");
    await interfacesOf(id);
    return c.json(withUri(c, registry.status(id)), 200);
  });

  app.openapi(restartHttpdRoute, async (c) => {
    const { id } = c.req.valid("param");
    // The body is optional: an empty one restarts as it ran.
    const body = c.req.valid("json") ?? {};
    const httpd = httpdOf(await interfacesOf(id), id);
    return c.json(withUri(c, await registry.restart(id, httpd, body)), 200);
  });

  app.openapi(stopHttpdRoute, async (c) => {
    const { id } = c.req.valid("param");
    await interfacesOf(id);
    return c.json(withUri(c, await registry.stop(id)), 200);
  });

  const proxy = async (c: ApiContext): Promise<Response> => {
    const id = c.req.param("id") ?? "";
    if (!idPattern.test(id)) throw new NotFoundError("lease", id.length > 80 ? `${id.slice(0, 80)}…` : id);
    await interfacesOf(id);
    const { stream, port, where } = await registry.connect(id);
    return proxyRequest(c, stream, { leaseId: id, port, where });
  };
  for (const path of [PROXY_ROOT, PROXY_PATH]) app.on([...PROXY_METHODS], path, access(leaseAccess), proxy);

  registerProxyInDocument(app);
  return registry;
}

function registerProxyInDocument(app: ApiApp): void {
  const errors = { content: { "application/json": { schema: ErrorSchema } } };
  for (const [path, params] of [
    ["/v1/leases/{id}/http", idParams],
    ["/v1/leases/{id}/http/{path}", idParams.extend({ path: z.string().openapi({ param: { name: "path", in: "path" }, description: "The path on the lease's server; the query string follows it.", example: "index.html" }) })],
  ] as const) {
    for (const method of PROXY_METHODS) {
      app.openAPIRegistry.registerPath({
        "x-drydock-access": leaseAccess,
        method: method.toLowerCase() as Lowercase<(typeof PROXY_METHODS)[number]>,
        path,
        summary: `${method} on the lease's web server, proxied`,
        description:
          "The request goes to the lease's server with its method, path, query, headers and body, without the Authorization header and the hop-by-hop headers; " +
          "the answer comes back as the server gave it, streamed, with a Content-Security-Policy sandbox added. HEAD is answered as GET is.",
        request: { params },
        responses: {
          200: { description: "Whatever the server answers (any status)" },
          404: { description: "No such lease", ...errors },
          409: { description: "The lease is not active", ...errors },
          503: { description: "No server runs for the lease (details.reason not_started or not_running), or nothing answers on its port (unreachable)", ...errors },
        },
      });
    }
  }
}

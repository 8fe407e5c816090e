import { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { access, publicRoute } from "../../src/api/route-access";
import { RouteAccessTable } from "../../src/api/route-access-table";
import { rules } from "../../src/auth/access-policy";
import type { Drydock } from "../../src/service/drydock";

/**
 * The access each route declares (route-access.ts), as the table the auth middleware matches
 * requests against reads it from the app: a table here, so a change to who may call what shows up
 * in this file. test/e2e/auth-matrix.test.ts checks the same declarations against real requests.
 */
let table: RouteAccessTable;

beforeAll(() => {
  // Building the app registers every route; the handlers, which would use the Drydock, never run.
  table = new RouteAccessTable(createApp({ database: { db: undefined, kind: "pglite" } } as unknown as Drydock));
});

describe("the access the app's routes declare", () => {
  it.each([
    ["GET", "/healthz", { kind: "public" }],
    ["HEAD", "/healthz", { kind: "public" }],
    ["GET", "/docs", { kind: "public" }],
    ["GET", "/docs/assets/swagger-ui-bundle.js", { kind: "public" }],
    ["HEAD", "/docs/assets/swagger-ui.css", { kind: "public" }],
    ["GET", "/docs/assets/a/b.js", { kind: "admin" }],
    ["POST", "/docs/assets/swagger-ui.css", { kind: "admin" }],
    ["GET", "/docs/other", { kind: "admin" }],
    ["POST", "/healthz", { kind: "admin" }],
    ["GET", "/openapi.json", { kind: "any" }],
    ["GET", "/metrics", { kind: "metrics" }],
    ["GET", "/v1/leases", { kind: "any" }],
    ["POST", "/v1/leases", { kind: "any" }],
    ["DELETE", "/v1/leases", { kind: "admin" }],
    ["GET", "/v1/leases/ls_1", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/release", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/renew", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/events", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/commands", { kind: "lease", leaseId: "ls_1" }],
    ["DELETE", "/v1/leases/ls_1/commands/cm_1", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/files", { kind: "lease", leaseId: "ls_1" }],
    ["PUT", "/v1/leases/ls_1/files/a/b.txt", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/files/a/b.txt", { kind: "lease", leaseId: "ls_1" }],
    ["DELETE", "/v1/leases/ls_1/files/a", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/explain", { kind: "lease", leaseId: "ls_1" }],
    // Decoded as the route's c.req.param() decodes it: the id checked is the id the route sees.
    ["GET", "/v1/leases/..%2Ftokens", { kind: "lease", leaseId: "../tokens" }],
    ["POST", "/v1/leases/ls_1/unknown", { kind: "admin" }],
    ["GET", "/v1/blueprints", { kind: "any" }],
    ["GET", "/v1/blueprints/bp_1", { kind: "blueprint", blueprintId: "bp_1" }],
    ["POST", "/v1/blueprints/bp_1/authorizations", { kind: "any" }],
    ["POST", "/v1/blueprints", { kind: "admin" }],
    ["PATCH", "/v1/blueprints/bp_1", { kind: "admin" }],
    ["POST", "/v1/blueprints/bp_1/disable", { kind: "admin" }],
    ["POST", "/v1/blueprints/bp_1/enable", { kind: "admin" }],
    ["GET", "/v1/blueprints/bp_1/events", { kind: "admin" }],
    ["GET", "/v1/resources", { kind: "any" }],
    ["GET", "/v1/resources/rs_1", { kind: "resource", resourceId: "rs_1" }],
    ["GET", "/v1/resources/rs_1/events", { kind: "admin" }],
    ["POST", "/v1/resources/rs_1/release", { kind: "admin" }],
    ["GET", "/v1/authorizations", { kind: "any" }],
    ["GET", "/v1/authorizations/au_1", { kind: "any" }],
    ["POST", "/v1/authorizations/au_1/approve", { kind: "admin" }],
    ["POST", "/v1/authorizations/au_1/decline", { kind: "admin" }],
    ["POST", "/v1/authorizations/au_1/revoke", { kind: "admin" }],
    ["GET", "/v1/tokens", { kind: "admin" }],
    ["POST", "/v1/tokens", { kind: "admin" }],
    ["DELETE", "/v1/tokens/tk_1", { kind: "admin" }],
    ["GET", "/v1/events", { kind: "admin" }],
    ["GET", "/v1/events/stream", { kind: "admin" }],
    ["GET", "/v1/some-route-added-later", { kind: "admin" }],
    ["GET", "/v1//leases", { kind: "admin" }],
    ["GET", "/healthz/", { kind: "admin" }],
  ] as const)("%s %s → %j", (method, path, expected) => {
    expect(table.lookup(method, path).access).toEqual(expected);
  });

  it("is case-blind about methods", () => {
    expect(table.lookup("get", "/healthz").access).toEqual({ kind: "public" });
    expect(table.lookup("post", "/v1/leases").access).toEqual({ kind: "any" });
  });

  it.each([
    ["POST", "/v1/leases", "leases"],
    ["POST", "/v1/leases/ls_1/commands", "commands"],
    ["GET", "/v1/leases", null],
    ["POST", "/v1/leases/ls_1/release", null],
    ["PUT", "/v1/leases/ls_1/files/commands", null],
    ["DELETE", "/v1/leases/ls_1/commands/cm_1", null],
    ["POST", "/v1/nothing-here", null],
  ] as const)("rate limit class of %s %s is %s", (method, path, cls) => {
    expect(table.lookup(method, path).declaration?.rateLimit ?? null).toBe(cls);
  });

  it("every route the app registers declares its access", () => {
    expect(table.entries().filter((e) => e.declaration === null).map((e) => `${e.method} ${e.path}`)).toEqual([]);
    expect(table.entries().length).toBeGreaterThan(30);
  });
});

describe("the table, on routes it did not see before", () => {
  it("a route that declares nothing is admin-only, and a later, more open route does not shadow it", () => {
    const app = new Hono();
    app.get("/things/:id", (c) => c.text("undeclared"));
    app.get("/things/open", publicRoute, (c) => c.text("never reached: the route above answers"));
    app.get("/open", publicRoute, (c) => c.text("open"));
    const t = new RouteAccessTable(app);
    expect(t.lookup("GET", "/things/open")).toEqual({ declaration: null, access: { kind: "admin" } });
    expect(t.lookup("GET", "/open").access).toEqual({ kind: "public" });
    expect(t.entries().map((e) => [e.method, e.path, e.declaration?.rule.kind ?? null])).toEqual([
      ["GET", "/things/:id", null],
      ["GET", "/things/open", "public"],
      ["GET", "/open", "public"],
    ]);
  });

  it("sees routes added after its first lookup", () => {
    const app = new Hono();
    const t = new RouteAccessTable(app);
    expect(t.lookup("GET", "/late").access).toEqual({ kind: "admin" });
    app.get("/late", publicRoute, (c) => c.text("late"));
    expect(t.lookup("GET", "/late").access).toEqual({ kind: "public" });
  });

  it("keeps the declarations of a mounted sub-app, also one with its own error handler", () => {
    const sub = new OpenAPIHono();
    sub.onError((_error, c) => c.text("sub-app error", 500));
    sub.get("/", publicRoute, (c) => c.text("page"));
    sub.get("/script.js", publicRoute, (c) => c.text("script"));
    sub.post("/leases/:leaseId/note", access(rules.lease("leaseId")), (c) => c.text("noted"));
    sub.get("/admin-page", (c) => c.text("admin"));
    const app = new Hono();
    app.route("/console", sub);
    const t = new RouteAccessTable(app);
    expect(t.lookup("GET", "/console").access).toEqual({ kind: "public" });
    expect(t.lookup("HEAD", "/console/script.js").access).toEqual({ kind: "public" });
    expect(t.lookup("POST", "/console/leases/ls_9/note").access).toEqual({ kind: "lease", leaseId: "ls_9" });
    expect(t.lookup("GET", "/console/admin-page").access).toEqual({ kind: "admin" });
    expect(t.lookup("GET", "/console/other").access).toEqual({ kind: "admin" });
  });

  it("app.use(path, publicRoute) declares every method under the path; plain middleware declares nothing", () => {
    const app = new Hono();
    app.use(async (_c, next) => next());
    app.use("/assets/*", publicRoute);
    app.get("/assets/:name", (c) => c.text("asset"));
    const t = new RouteAccessTable(app);
    expect(t.lookup("GET", "/assets/app.js").access).toEqual({ kind: "public" });
    expect(t.lookup("GET", "/elsewhere").access).toEqual({ kind: "admin" });
  });
});

import { describe, expect, it } from "vitest";
import { accessFor, rateLimitClassOf } from "../../src/auth/access-policy";

/** The access policy, route by route: a table, so a change to who may call what shows up here. */
describe("access policy", () => {
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
    ["GET", "/v1/leases", { kind: "any" }],
    ["POST", "/v1/leases", { kind: "any" }],
    ["DELETE", "/v1/leases", { kind: "admin" }],
    ["GET", "/v1/leases/ls_1", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/release", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/renew", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/events", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/commands", { kind: "lease", leaseId: "ls_1" }],
    ["POST", "/v1/leases/ls_1/commands/stream", { kind: "lease", leaseId: "ls_1" }],
    ["PUT", "/v1/leases/ls_1/files/a/b.txt", { kind: "lease", leaseId: "ls_1" }],
    ["DELETE", "/v1/leases/ls_1/files/a", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/ls_1/explain", { kind: "lease", leaseId: "ls_1" }],
    ["GET", "/v1/leases/..%2Ftokens", { kind: "lease", leaseId: "..%2Ftokens" }],
    ["GET", "/v1/blueprints", { kind: "any" }],
    ["GET", "/v1/blueprints/bp_1", { kind: "blueprint", blueprintId: "bp_1" }],
    ["POST", "/v1/blueprints/bp_1/authorizations", { kind: "any" }],
    ["POST", "/v1/blueprints", { kind: "admin" }],
    ["PATCH", "/v1/blueprints/bp_1", { kind: "admin" }],
    ["POST", "/v1/blueprints/bp_1/disable", { kind: "admin" }],
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
  ] as const)("%s %s → %j", (method, path, access) => {
    expect(accessFor(method, path)).toEqual(access);
  });

  it("is case-blind about methods", () => {
    expect(accessFor("get", "/healthz")).toEqual({ kind: "public" });
    expect(accessFor("post", "/v1/leases")).toEqual({ kind: "any" });
  });

  it.each([
    ["POST", "/v1/leases", "leases"],
    ["POST", "/v1/leases/ls_1/commands", "commands"],
    ["POST", "/v1/leases/ls_1/commands/stream", "commands"],
    ["GET", "/v1/leases", null],
    ["POST", "/v1/leases/ls_1/release", null],
    ["PUT", "/v1/leases/ls_1/files/commands", null],
    ["GET", "/v1/leases/ls_1/commands", null],
  ] as const)("rate limit class of %s %s is %s", (method, path, cls) => {
    expect(rateLimitClassOf(method, path)).toBe(cls);
  });
});

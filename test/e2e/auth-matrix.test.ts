import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { access, publicRoute } from "../../src/api/route-access";
import { RouteAccessTable, type RouteAccessEntry } from "../../src/api/route-access-table";
import { rules, type AccessRule } from "../../src/auth/access-policy";
import { startApi, type ApiClient, type ApiHarness, type ApiResponse } from "./api-harness";

/**
 * Who may do what, as a matrix: two clients (alice, bob) and an admin. Every read, use (commands,
 * files) and release of alice's lease by bob is refused with 404, exactly as for a lease that does
 * not exist, with nothing appended; the admin may do all of it; admin-only routes refuse clients
 * with 403; no token, a bad one or a revoked one gets 401. "Every route, as it declares" walks every
 * registered route (those of the OpenAPI document and the plain ones) and checks that the route
 * declares its access and that the app enforces what it declares.
 */
let api: ApiHarness;
let alice: ApiClient;
let bob: ApiClient;
let aliceLease: any;
let otherBlueprint: string;

beforeAll(async () => {
  api = await startApi();
  [alice, bob] = [await api.client("alice"), await api.client("bob")];
  const created = await alice.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  expect(created.status, created.text).toBe(201);
  aliceLease = created.body;
  const bp = await api.call("POST", "/v1/blueprints", { name: "admins-only", kind: "local-host", config: { root: `${api.root}/admins`, slots: 1 } });
  expect(bp.status).toBe(201);
  otherBlueprint = bp.body.id;
  const put = await alice.call("PUT", `/v1/leases/${aliceLease.id}/files/secret-plans.txt`, "alice's", { "content-type": "application/octet-stream" });
  expect(put.status).toBe(204);
});
afterAll(async () => {
  await api?.close();
});

/** Runs the request and checks the log did not move. */
async function refused(request: () => Promise<ApiResponse>): Promise<ApiResponse> {
  const before = await api.eventCount();
  const res = await request();
  expect(await api.eventCount(), `${res.status} ${res.text}`).toBe(before);
  return res;
}

const leaseRoutes = (id: string): [string, string, unknown?, Record<string, string>?][] => [
  ["GET", `/v1/leases/${id}`],
  ["GET", `/v1/leases/${id}?wait=1`],
  ["GET", `/v1/leases/${id}/events`],
  ["POST", `/v1/leases/${id}/commands`, { argv: ["cat", "secret-plans.txt"] }],
  ["POST", `/v1/leases/${id}/commands?stream=1`, { argv: ["cat", "secret-plans.txt"] }],
  ["GET", `/v1/leases/${id}/explain`],
  ["GET", `/v1/leases/${id}/files`],
  ["GET", `/v1/leases/${id}/files/secret-plans.txt`],
  ["GET", `/v1/leases/${id}/files/build?list=1`],
  ["PUT", `/v1/leases/${id}/files/secret-plans.txt`, "bob was here", { "content-type": "application/octet-stream" }],
  ["DELETE", `/v1/leases/${id}/files/secret-plans.txt`],
  ["POST", `/v1/leases/${id}/renew`, { ttlSeconds: 60 }],
  ["POST", `/v1/leases/${id}/release`, {}],
];

describe("another client's lease is a lease that does not exist", () => {
  it("bob reads, uses and releases nothing of alice's: 404, the same answer as for no such lease", async () => {
    const missing = "ls_0000000000000000000000";
    for (const [method, url, body, headers] of leaseRoutes(aliceLease.id)) {
      const res = await refused(() => bob.call(method, url, body, headers));
      expect(res.status, `${method} ${url}: ${res.text}`).toBe(404);
      expect(res.body.error).toEqual({ code: "not_found", message: `lease ${aliceLease.id} not found`, details: { kind: "lease", id: aliceLease.id } });
      // Indistinguishable from a lease that does not exist.
      const none = await bob.call(method, url.replace(aliceLease.id, missing), body, headers);
      expect(none.status, `${method} ${url} (missing)`).toBe(404);
      expect(none.body.error.message).toBe(`lease ${missing} not found`);
    }
    // Alice's lease and file are untouched.
    expect((await alice.call("GET", `/v1/leases/${aliceLease.id}`)).body.status).toBe("active");
    const file = await alice.call("GET", `/v1/leases/${aliceLease.id}/files/secret-plans.txt`);
    expect(file.text).toBe("alice's");
  });

  it("bob's lists hold none of alice's leases or resources, even when he asks for her by name", async () => {
    const all = await bob.call("GET", "/v1/leases?limit=200");
    expect(all.status).toBe(200);
    expect(all.body.items).toEqual([]);
    expect((await bob.call("GET", "/v1/leases?owner=alice")).body).toEqual({ items: [], nextCursor: null });
    expect((await bob.call("GET", `/v1/leases?resourceId=${aliceLease.resourceId}`)).body.items).toEqual([]);
    expect((await bob.call("GET", "/v1/resources")).body.items).toEqual([]);
    // As of a moment in the past too (rebuilt from the log, then scoped the same way).
    const asOf = encodeURIComponent(new Date().toISOString());
    const pastLeases = await bob.call("GET", `/v1/leases?asOf=${asOf}`);
    expect(pastLeases.status, pastLeases.text).toBe(200);
    expect(pastLeases.body.items).toEqual([]);
    expect((await bob.call("GET", `/v1/resources?asOf=${asOf}`)).body.items).toEqual([]);
    expect((await bob.call("GET", `/v1/leases/${aliceLease.id}?asOf=${asOf}`)).status).toBe(404);
    expect((await alice.call("GET", `/v1/leases?asOf=${asOf}`)).body.items.map((l: any) => l.id)).toEqual([aliceLease.id]);
    const resource = await refused(() => bob.call("GET", `/v1/resources/${aliceLease.resourceId}`));
    expect(resource.status).toBe(404);
    expect(resource.body.error.message).toBe(`resource ${aliceLease.resourceId} not found`);
  });

  it("alice sees her lease and its resource", async () => {
    expect((await alice.call("GET", "/v1/leases")).body.items.map((l: any) => l.id)).toEqual([aliceLease.id]);
    expect((await alice.call("GET", `/v1/leases?owner=alice`)).body.items).toHaveLength(1);
    expect((await alice.call("GET", "/v1/resources")).body.items.map((r: any) => r.id)).toEqual([aliceLease.resourceId]);
    expect((await alice.call("GET", `/v1/resources/${aliceLease.resourceId}`)).status).toBe(200);
    const cat = await alice.call("POST", `/v1/leases/${aliceLease.id}/commands`, { argv: ["cat", "secret-plans.txt"] });
    expect(cat.body.stdout).toBe("alice's");
  });

  it("clients see only the blueprints they are authorized for", async () => {
    const localHost = await api.localHostBlueprintId();
    expect((await alice.call("GET", "/v1/blueprints")).body.items.map((b: any) => b.id)).toEqual([localHost]);
    expect((await alice.call("GET", `/v1/blueprints/${localHost}`)).status).toBe(200);
    const hidden = await alice.call("GET", `/v1/blueprints/${otherBlueprint}`);
    expect(hidden.status).toBe(404);
    expect((await api.call("GET", "/v1/blueprints")).body.items.map((b: any) => b.id).sort()).toEqual([localHost, otherBlueprint].sort());
    // Asking to lease from a blueprint one is not authorized for is refused up front.
    const forced = await refused(() => alice.call("POST", "/v1/leases", { resourceType: "host", blueprintIds: [otherBlueprint] }));
    expect(forced.status).toBe(403);
    expect(forced.body.error.code).toBe("forbidden");
  });

  it("the admin reads, uses and releases alice's lease, and each event names who acted", async () => {
    const read = await api.call("GET", `/v1/leases/${aliceLease.id}`);
    expect(read.body).toMatchObject({ id: aliceLease.id, owner: "alice" });
    expect((await api.call("GET", "/v1/leases?owner=alice")).body.items.map((l: any) => l.id)).toEqual([aliceLease.id]);
    expect((await api.call("POST", `/v1/leases/${aliceLease.id}/commands`, { argv: ["cat", "secret-plans.txt"] })).body.stdout).toBe("alice's");
    expect((await api.call("GET", `/v1/leases/${aliceLease.id}/files/secret-plans.txt`)).text).toBe("alice's");
    expect((await api.call("POST", `/v1/leases/${aliceLease.id}/renew`, { ttlSeconds: 600 })).status).toBe(200);
    const released = await api.call("POST", `/v1/leases/${aliceLease.id}/release`, {});
    expect(released.status).toBe(200);
    expect(released.body.status).toBe("released");
    // Let its cleanup finish: the tests below count events, and the worker's LeaseDestroyed is not theirs.
    await api.pollLease(aliceLease.id, (l) => l.status === "destroyed");

    const events = (await api.call("GET", `/v1/leases/${aliceLease.id}/events`)).body.items;
    const actorOf = (type: string) => events.find((e: any) => e.type === type).metadata;
    expect(actorOf("LeaseRequested")).toMatchObject({ actor: "alice", tokenId: alice.tokenId });
    expect(actorOf("LeaseAcquired").actor).toMatch(/^allocator:/);
    expect(actorOf("LeaseRenewed")).toMatchObject({ actor: "admin" });
    expect(actorOf("LeaseReleased")).toMatchObject({ actor: "admin" });
  });
});

describe("roles", () => {
  it("admin-only routes refuse clients with 403 and append nothing", async () => {
    const localHost = await api.localHostBlueprintId();
    const cases: [string, string, unknown?][] = [
      ["POST", "/v1/blueprints", { name: "mine", kind: "local-host" }],
      ["PATCH", `/v1/blueprints/${localHost}`, { resourceLimit: 1 }],
      ["POST", `/v1/blueprints/${localHost}/disable`, {}],
      ["POST", `/v1/blueprints/${localHost}/enable`],
      ["GET", `/v1/blueprints/${localHost}/events`],
      ["GET", `/v1/resources/${aliceLease.resourceId}/events`],
      ["POST", `/v1/resources/${aliceLease.resourceId}/release`, {}],
      ["GET", "/v1/events"],
      ["GET", "/v1/events/stream"],
      ["GET", "/v1/tokens"],
      ["POST", "/v1/tokens", { owner: "bob", role: "admin" }],
      ["DELETE", `/v1/tokens/${alice.tokenId}`],
      ["POST", "/v1/authorizations/au_000000000000000000000000/approve"],
      ["POST", "/v1/authorizations/au_000000000000000000000000/decline", {}],
      ["POST", "/v1/authorizations/au_000000000000000000000000/revoke", {}],
    ];
    for (const [method, url, body] of cases) {
      const res = await refused(() => bob.call(method, url, body));
      expect(res.status, `${method} ${url}: ${res.text}`).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
    }
  });

  it("no token, a malformed one, an unknown one: 401 with WWW-Authenticate, whatever the route", async () => {
    const unknown = `ddk_${"A".repeat(43)}`;
    for (const authorization of ["", "Bearer", "Basic YWRtaW46YWRtaW4=", `Bearer ${unknown}`, `Bearer ${alice.token}x`, `Token ${alice.token}`, `Bearer ${alice.token}, Bearer ${bob.token}`]) {
      for (const [method, url] of [["GET", "/v1/leases"], ["POST", "/v1/leases"], ["GET", "/openapi.json"], ["GET", "/v1/nothing-here"], ["DELETE", `/v1/tokens/${alice.tokenId}`]]) {
        const res = await refused(() => api.as(null).call(method!, url!, method === "POST" ? { resourceType: "host" } : undefined, authorization ? { Authorization: authorization } : {}));
        expect(res.status, `${authorization} ${method} ${url}`).toBe(401);
        expect(res.body.error.code).toBe("unauthorized");
        expect(res.headers.get("www-authenticate")).toBe('Bearer realm="drydock"');
      }
    }
    // The scheme is case-blind, as HTTP says.
    expect((await api.as(null).call("GET", "/v1/leases", undefined, { Authorization: `bearer ${alice.token}` })).status).toBe(200);
  });

  it("/healthz and /docs need no token; /openapi.json needs one, of any role; /docs sends it", async () => {
    const anonymous = api.as(null);
    expect((await anonymous.call("GET", "/healthz")).status).toBe(200);
    const docs = await anonymous.call("GET", "/docs");
    expect(docs.status).toBe(200);
    // The page's own script (served, not inline: see docs-page.test.ts) asks for the token and sends it.
    expect(docs.text).toMatch(/<script src="\/docs\/assets\/drydock-docs\.js">/);
    const script = await anonymous.call("GET", "/docs/assets/drydock-docs.js");
    expect(script.status).toBe(200);
    expect(script.text).toMatch(/requestInterceptor/);
    expect(script.text).toMatch(/Authorization = "Bearer " \+ token/);
    expect((await anonymous.call("GET", "/openapi.json")).status).toBe(401);
    const spec = await alice.call("GET", "/openapi.json");
    expect(spec.status).toBe(200);
    expect(spec.body.components.securitySchemes.bearerToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(spec.body.security).toEqual([{ bearerToken: [] }]);
    expect(spec.body.paths["/healthz"].get.security).toEqual([]);
  });

  it("a revoked token is refused from its next request on", async () => {
    const carol = await api.client("carol");
    expect((await carol.call("GET", "/v1/leases")).status).toBe(200);
    const revoked = await api.call("DELETE", `/v1/tokens/${carol.tokenId}`, { reason: "left the team" });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: carol.tokenId, status: "revoked", revokedBy: "admin" });
    expect((await carol.call("GET", "/v1/leases")).status).toBe(401);
    expect((await api.call("DELETE", `/v1/tokens/${carol.tokenId}`)).status).toBe(409);
    const events = await api.drydock.store.readStream(`token-${carol.tokenId}`);
    expect(events.map((e) => [e.type, e.metadata.actor])).toEqual([
      ["TokenIssued", "admin"],
      ["TokenRevoked", "admin"],
    ]);
    expect(events[1]!.data).toEqual({ reason: "left the team" });
  });

  it("tokens are listed without secrets or hashes, and owner names cannot pose as system names", async () => {
    const list = await api.call("GET", "/v1/tokens?limit=200");
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThanOrEqual(4);
    for (const t of list.body.items) expect(Object.keys(t).sort()).toEqual(["defaultLeaseTtlSeconds", "expiresAt", "id", "issuedAt", "issuedBy", "leaseQuota", "owner", "revokedAt", "revokedBy", "role", "status"]);
    expect(list.text).not.toContain(alice.token);
    expect(list.text).not.toContain("sha256:");
    expect((await api.call("GET", "/v1/tokens?status=revoked")).body.items.every((t: any) => t.status === "revoked")).toBe(true);
    for (const owner of ["resource:rs_1", "blueprint:bp_1", "allocator:w-1", "system", "with space", "", "a".repeat(65)]) {
      const res = await refused(() => api.call("POST", "/v1/tokens", { owner, role: "client" }));
      expect(res.status, owner).toBe(400);
      expect(res.body.error.message).toMatch(/^owner: /);
    }
    expect((await refused(() => api.call("POST", "/v1/tokens", { owner: "x", role: "root" }))).status).toBe(400);
  });
});

/** The document's form of a Hono pattern: `/v1/leases/:id/files/:path{.+}` is `/v1/leases/{id}/files/{path}`. */
const documentPathOf = (pattern: string) => pattern.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");

/**
 * A URL for a route: the parameter its rule names holds something of alice's (her lease, its
 * resource) or a blueprint she and bob are not authorized for; the other parameters hold ids that
 * exist nowhere, so a request that gets past the access check changes nothing.
 */
function urlFor(entry: RouteAccessEntry): string {
  const rule = entry.declaration?.rule;
  const ruleValue = (): string | undefined => {
    if (rule?.kind === "lease") return aliceLease.id;
    if (rule?.kind === "resource") return aliceLease.resourceId;
    if (rule?.kind === "blueprint") return otherBlueprint;
    return undefined;
  };
  const fallback: Record<string, string> = { id: "xx_0000000000000000000000", commandId: "cm_000000000000000000000000", path: "secret-plans.txt", name: "drydock-docs.js" };
  return entry.path.replace(/:(\w+)(\{[^}]*\})?/g, (_, name: string) => {
    const own = rule && "param" in rule && rule.param === name ? ruleValue() : undefined;
    return own ?? fallback[name] ?? "x";
  });
}

/** What bob, a client with no claim on anything in urlFor's URLs, gets from a route with this rule. */
function expectClientAnswer(rule: AccessRule, res: ApiResponse, what: string): void {
  switch (rule.kind) {
    case "public":
    case "any":
      expect([401, 403], `${what}: ${res.text}`).not.toContain(res.status);
      return;
    case "admin":
      expect(res.status, `${what}: ${res.text}`).toBe(403);
      expect(res.body.error.message).toBe("this requires the admin role");
      return;
    case "metrics":
      expect(res.status, `${what}: ${res.text}`).toBe(403);
      expect(res.body.error.message).toBe("this requires the admin or metrics role");
      return;
    case "lease":
      expect(res.status, `${what}: ${res.text}`).toBe(404);
      expect(res.body.error.message).toBe(`lease ${aliceLease.id} not found`);
      return;
    case "resource":
      expect(res.status, `${what}: ${res.text}`).toBe(404);
      expect(res.body.error.message).toBe(`resource ${aliceLease.resourceId} not found`);
      return;
    case "blueprint":
      expect(res.status, `${what}: ${res.text}`).toBe(404);
      expect(res.body.error.message).toBe(`blueprint ${otherBlueprint} not found`);
      return;
    default:
      throw new Error(`no expectation for ${JSON.stringify(rule satisfies never)}`);
  }
}

describe("every route, as it declares", () => {
  it("every route of the OpenAPI document declares its access there (x-drydock-access), as the app enforces it", async () => {
    const table = new RouteAccessTable(api.app);
    const doc = (await alice.call("GET", "/openapi.json")).body;
    const undeclared: string[] = [];
    let operations = 0;
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        operations++;
        const declared = operation["x-drydock-access"];
        if (declared === undefined) {
          undeclared.push(`${method.toUpperCase()} ${path}`);
          continue;
        }
        const route = table.entries().find((e) => e.method === method.toUpperCase() && documentPathOf(e.path) === path);
        expect(route, `${method} ${path} is a route of the app`).toBeDefined();
        expect(route!.declaration?.rule, `${method} ${path}`).toEqual(declared);
        expect(operation["x-drydock-rate-limit"] ?? null, `${method} ${path}`).toBe(route!.declaration?.rateLimit ?? null);
        // Public routes say so in the document's own terms too.
        if (declared.kind === "public") expect(operation.security, `${method} ${path}`).toEqual([]);
        else expect(operation.security, `${method} ${path}`).toBeUndefined();
      }
    }
    expect(undeclared, "routes without a declared access (they are admin-only)").toEqual([]);
    expect(operations).toBeGreaterThan(30);
  });

  it("every registered route, in the document or not, declares its access; without a token only the public ones answer, and a client gets what the route declares", async () => {
    const metricsToken = (await api.call("POST", "/v1/tokens", { owner: "scraper", role: "metrics" })).body.token;
    const entries = new RouteAccessTable(api.app).entries();
    expect(entries.filter((e) => e.declaration === null).map((e) => `${e.method} ${e.path}`)).toEqual([]);
    const kinds = new Set<string>();
    for (const entry of entries) {
      const rule = entry.declaration!.rule;
      kinds.add(rule.kind);
      const url = urlFor(entry);
      const what = `${entry.method} ${entry.path} (${rule.kind}) as ${url}`;
      const body = entry.method === "GET" || entry.method === "DELETE" ? undefined : {};

      const anonymous = await refused(() => api.as(null).call(entry.method, url, body));
      // A public route may still answer 404 for an id that exists nowhere, or redirect: never 401 or 403.
      if (rule.kind === "public") expect([401, 403], `${what}: ${anonymous.text}`).not.toContain(anonymous.status);
      else {
        expect(anonymous.status, what).toBe(401);
        expect(anonymous.body.error.code).toBe("unauthorized");
      }

      // A client's request that the route refuses appends nothing; one it lets through may (an
      // "any" route), so only refusals are counted.
      const asBob = () => bob.call(entry.method, url, body);
      const res = rule.kind === "public" || rule.kind === "any" ? await asBob() : await refused(asBob);
      expectClientAnswer(rule, res, what);

      // A metrics token reads /metrics and nothing else.
      const scraper = await api.as(metricsToken).call(entry.method, url, body);
      if (rule.kind === "metrics") expect(scraper.status, what).toBe(200);
      else if (rule.kind === "public") expect([401, 403], what).not.toContain(scraper.status);
      else expect(scraper.status, what).toBe(403);
    }
    // The walk met every kind of rule there is.
    expect([...kinds].sort()).toEqual(["admin", "any", "blueprint", "lease", "metrics", "public", "resource"]);
  });

  it("a path no route matches is admin-only: 401 without a token, 403 for a client, 404 for an admin", async () => {
    expect((await api.as(null).call("GET", "/v1/nothing-here")).status).toBe(401);
    const client = await refused(() => bob.call("POST", "/v1/nothing-here", {}));
    expect(client.status).toBe(403);
    expect(client.body.error.message).toBe("this requires the admin role");
    expect((await api.call("GET", "/v1/nothing-here")).status).toBe(404);
  });

  it("a route added without a declaration is admin-only; one that declares public answers without a token", async () => {
    const app = createApp(api.drydock);
    app.get("/v1/added-later", (c) => c.json({ reached: true }));
    app.get("/console-like", publicRoute, (c) => c.html("<p>public page</p>"));
    const call = (url: string, token: string | null) => app.request(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await call("/v1/added-later", null)).status).toBe(401);
    const client = await call("/v1/added-later", bob.token);
    expect(client.status).toBe(403);
    expect(await client.json()).toMatchObject({ error: { code: "forbidden" } });
    expect(await (await call("/v1/added-later", api.adminToken)).json()).toEqual({ reached: true });
    const page = await call("/console-like", null);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe("<p>public page</p>");
  });

  it("a route whose declaration another route's shadows is not served under the other's rule", async () => {
    const app = createApp(api.drydock);
    app.use("/v1/shadowed/*", publicRoute);
    app.get("/v1/shadowed/admin-thing", access(rules.admin), (c) => c.json({ secret: true }));
    const res = await app.request("/v1/shadowed/admin-thing");
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain("secret");
  });
});

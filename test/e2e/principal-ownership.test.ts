import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamIdOf } from "../../events/envelope";
import { generateToken, hashToken } from "../../src/auth/token-secret";
import { startApi, type ApiHarness, type ApiResponse, type Caller } from "./api-harness";

/**
 * A token acts as a principal, its owner name AND its role. An owner name belongs to one role:
 * a client token cannot be issued under an admin's name (or the other way round), even after the
 * other role's tokens are revoked, even when both are asked for at the same moment. And where a
 * database holds both already (tokens issued before the rule), the client still never reaches
 * the admin's leases or the resources they are on: a client sees the leases it asked for itself.
 */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

async function refusedName(res: ApiResponse, before: number): Promise<void> {
  expect(res.status, res.text).toBe(409);
  expect(res.body.error).toMatchObject({ code: "name_taken", details: { field: "owner" } });
  expect(res.body.error.message).toMatch(/^owner: /);
  expect(await api.eventCount()).toBe(before);
}

describe("an owner name belongs to one role", () => {
  it("a client token under the admin's name is refused (409, field owner), nothing appended", async () => {
    const before = await api.eventCount();
    const res = await api.call("POST", "/v1/tokens", { owner: "admin", role: "client" });
    await refusedName(res, before);
    expect(res.body.error.message).toMatch(/admin/);
  });

  it("an admin token under a client's name is refused, also once the client's tokens are revoked; the same role may reuse it", async () => {
    const first = await api.call("POST", "/v1/tokens", { owner: "frank", role: "client" });
    expect(first.status).toBe(201);
    const before = await api.eventCount();
    await refusedName(await api.call("POST", "/v1/tokens", { owner: "frank", role: "admin" }), before);

    expect((await api.call("DELETE", `/v1/tokens/${first.body.id}`, {})).status).toBe(200);
    const afterRevoke = await api.eventCount();
    await refusedName(await api.call("POST", "/v1/tokens", { owner: "frank", role: "admin" }), afterRevoke);

    const again = await api.call("POST", "/v1/tokens", { owner: "frank", role: "client" });
    expect(again.status, again.text).toBe(201);
    expect(again.body).toMatchObject({ owner: "frank", role: "client" });
    const admin2 = await api.call("POST", "/v1/tokens", { owner: "admin", role: "admin" });
    expect(admin2.status, admin2.text).toBe(201);
  });

  it("asked for at the same moment under both roles, a name goes to exactly one of them", async () => {
    const names = Array.from({ length: 12 }, (_, i) => `race-${i}`);
    const results = await Promise.all(
      names.map((owner) => Promise.all((["admin", "client"] as const).map((role) => api.call("POST", "/v1/tokens", { owner, role })))),
    );
    for (const [i, pair] of results.entries()) {
      expect(pair.map((r) => r.status).sort(), `${names[i]}: ${pair.map((r) => r.text).join(" | ")}`).toEqual([201, 409]);
    }
    const rows = await api.drydock.database.db.selectFrom("tokens").select(["owner", "role"]).where("owner", "in", names).execute();
    expect(rows).toHaveLength(names.length);
    expect(new Set(rows.map((r) => r.owner)).size).toBe(names.length);
  });
});

describe("a client never reaches an admin's leases, even under the admin's name", () => {
  let adminLease: any;
  let legacy: Caller;
  let authorizationId: string;

  beforeAll(async () => {
    const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(created.status, created.text).toBe(201);
    adminLease = created.body;
    expect(adminLease.owner).toBe("admin");

    // A database from before the rule: a client token named "admin" was issued then. The
    // command refuses that now, so the test appends the event an older Drydock appended.
    const token = generateToken();
    const tokenId = api.drydock.commands.ids.next("token");
    await api.drydock.store.append(
      streamIdOf("token", tokenId),
      0,
      [{ type: "TokenIssued", data: { tokenId, owner: "admin", role: "client", hash: hashToken(token) } }],
      { actor: "admin" },
    );
    legacy = api.as(token);
    const asked = await api.call("POST", `/v1/blueprints/${await api.localHostBlueprintId()}/authorizations`, { client: "admin" });
    authorizationId = asked.body.id;
    expect((await api.call("POST", `/v1/authorizations/${authorizationId}/approve`)).status).toBe(200);
    expect((await legacy.call("GET", "/v1/leases")).status).toBe(200);
  });

  it("the admin's lease, its history, commands and release answer 404; nothing is appended", async () => {
    const id = adminLease.id;
    const routes: [string, string, unknown?][] = [
      ["GET", `/v1/leases/${id}`],
      ["GET", `/v1/leases/${id}/events`],
      ["GET", `/v1/leases/${id}/explain`],
      ["GET", `/v1/leases/${id}/files`],
      ["POST", `/v1/leases/${id}/commands`, { argv: ["true"] }],
      ["POST", `/v1/leases/${id}/renew`, { ttlSeconds: 60 }],
      ["POST", `/v1/leases/${id}/release`, {}],
      ["GET", `/v1/resources/${adminLease.resourceId}`],
    ];
    for (const [method, url, body] of routes) {
      const before = await api.eventCount();
      const res = await legacy.call(method, url, body);
      expect(res.status, `${method} ${url}: ${res.text}`).toBe(404);
      expect(await api.eventCount()).toBe(before);
    }
    expect((await api.call("GET", `/v1/leases/${id}`)).body.status).toBe("active");
  });

  it("its lists hold neither the admin's leases nor the resources they are on, now or as of a time", async () => {
    const asOf = new Date().toISOString();
    for (const url of ["/v1/leases", "/v1/leases?owner=admin", `/v1/leases?asOf=${asOf}`, `/v1/leases?owner=admin&asOf=${asOf}`]) {
      const res = await legacy.call("GET", url);
      expect(res.status, url).toBe(200);
      expect(res.body.items.map((l: any) => l.id), url).not.toContain(adminLease.id);
    }
    for (const url of ["/v1/resources", `/v1/resources?asOf=${asOf}`]) {
      const res = await legacy.call("GET", url);
      expect(res.status, url).toBe(200);
      expect(res.body.items.map((r: any) => r.id), url).not.toContain(adminLease.resourceId);
    }
    // The admin still sees its own lease there.
    expect((await api.call("GET", "/v1/leases?owner=admin")).body.items.map((l: any) => l.id)).toContain(adminLease.id);
  });

  it("it sees and uses the leases it asks for; revoking its authorization releases those, not the admin's", async () => {
    const own = await legacy.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(own.status, own.text).toBe(201);
    expect((await legacy.call("GET", `/v1/leases/${own.body.id}`)).status).toBe(200);
    const listed = (await legacy.call("GET", "/v1/leases")).body.items.map((l: any) => l.id);
    expect(listed).toEqual([own.body.id]);

    const revoked = await api.call("POST", `/v1/authorizations/${authorizationId}/revoke`, { releaseLeases: true });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.releasedLeaseIds).toEqual([own.body.id]);
    expect((await api.call("GET", `/v1/leases/${adminLease.id}`)).body.status).toBe("active");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Blueprint authorizations over HTTP: a client asks, an admin approves, declines or revokes; the
 * allocator uses only authorized blueprints and says so in the lease's history; every step is an
 * event with its actor.
 */
let api: ApiHarness;
let localHost: string;
let poolB: string;

beforeAll(async () => {
  api = await startApi();
  localHost = await api.localHostBlueprintId();
  const created = await api.call("POST", "/v1/blueprints", { name: "pool-b", kind: "local-host", config: { root: `${api.root}/pool-b`, slots: 1 } });
  poolB = created.body.id;
});
afterAll(async () => {
  await api?.close();
});

async function issue(owner: string) {
  const res = await api.call("POST", "/v1/tokens", { owner, role: "client" });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ owner, role: "client", status: "active", issuedBy: "admin" });
  expect(res.body.token).toMatch(/^ddk_[A-Za-z0-9_-]{43}$/);
  return { ...api.as(res.body.token), tokenId: res.body.id as string };
}

describe("the authorization flow", () => {
  it("ask, decline, approve, lease, revoke with releaseLeases: each step an event with its actor", async () => {
    const carol = await issue("carol");
    const before = await api.eventCount();
    const refused = await carol.call("POST", "/v1/leases", { resourceType: "host" });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");
    expect(refused.body.error.message).toMatch(/^carol is not authorized to use any blueprint that could serve this lease/);
    expect(refused.body.error.details.blueprints.map((b: any) => b.id).sort()).toEqual([localHost, poolB].sort());
    expect(await api.eventCount()).toBe(before);

    const asked = await carol.call("POST", `/v1/blueprints/${localHost}/authorizations`);
    expect(asked.status).toBe(201);
    expect(asked.body).toMatchObject({ blueprintId: localHost, client: "carol", state: "requested", requestedBy: "carol", decidedBy: null });
    const id = asked.body.id;
    const again = await carol.call("POST", `/v1/blueprints/${localHost}/authorizations`, { client: "carol" });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(asked.body);

    expect((await carol.call("POST", `/v1/blueprints/${localHost}/authorizations`, { client: "dave" })).status).toBe(403);
    expect((await carol.call("POST", `/v1/authorizations/${id}/approve`)).status).toBe(403);
    expect((await carol.call("POST", "/v1/blueprints/bp_0000000000000000000000/authorizations")).status).toBe(404);
    expect((await carol.call("POST", `/v1/blueprints/${localHost}/authorizations`, { client: "x y" })).status).toBe(403);
    expect((await api.call("POST", `/v1/blueprints/${localHost}/authorizations`, { client: "x y" })).status).toBe(400);

    const declined = await api.call("POST", `/v1/authorizations/${id}/decline`, { reason: "ask the build team" });
    expect(declined.body).toMatchObject({ state: "declined", reason: "ask the build team", decidedBy: "admin" });
    // Asking again does not reopen a decision.
    expect((await carol.call("POST", `/v1/blueprints/${localHost}/authorizations`)).body.state).toBe("declined");
    expect((await carol.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(403);
    expect((await carol.call("GET", "/v1/blueprints")).body.items).toEqual([]);

    const approved = await api.call("POST", `/v1/authorizations/${id}/approve`);
    expect(approved.body).toMatchObject({ state: "approved", reason: null, decidedBy: "admin" });
    expect((await api.call("POST", `/v1/authorizations/${id}/approve`)).status).toBe(409);
    expect((await carol.call("GET", "/v1/blueprints")).body.items.map((b: any) => b.id)).toEqual([localHost]);

    const lease = await carol.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    expect(lease.body).toMatchObject({ owner: "carol", blueprintId: localHost });
    const attempt = (await carol.call("GET", `/v1/leases/${lease.body.id}/events`)).body.items.find((e: any) => e.type === "AllocationAttempted");
    expect(attempt.data.candidates).toContainEqual({ kind: "blueprint", id: poolB, outcome: "skipped", reason: "not authorized for carol" });

    const revoked = await api.call("POST", `/v1/authorizations/${id}/revoke`, { reason: "project over", releaseLeases: true });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ state: "revoked", reason: "project over", decidedBy: "admin", releasedLeaseIds: [lease.body.id] });
    const ended = await carol.call("GET", `/v1/leases/${lease.body.id}`);
    expect(ended.body.status).toMatch(/^(released|destroyed)$/);
    expect(ended.body.endReason).toBe(`requested: authorization ${id} of carol on ${localHost} revoked`);
    expect((await carol.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(403);

    // The whole flow, in the log, with who did each step; the release was caused by the revocation.
    const stream = await api.drydock.store.readStream(`authorization-${id}`);
    expect(stream.map((e) => [e.type, e.metadata.actor])).toEqual([
      ["AuthorizationRequested", "carol"],
      ["AuthorizationDeclined", "admin"],
      ["AuthorizationApproved", "admin"],
      ["AuthorizationRevoked", "admin"],
    ]);
    expect(stream[0]!.metadata.tokenId).toBe(carol.tokenId);
    const release = (await api.drydock.store.readStream(`lease-${lease.body.id}`)).find((e) => e.type === "LeaseReleased")!;
    expect(release.metadata).toMatchObject({ actor: "admin", causationId: stream[3]!.eventId });

    // Clients list their own authorizations; admins list everyone's.
    expect((await carol.call("GET", "/v1/authorizations")).body.items.map((a: any) => a.id)).toEqual([id]);
    expect((await carol.call("GET", "/v1/authorizations?client=dave")).body.items).toEqual([]);
    expect((await carol.call("GET", `/v1/authorizations/${id}`)).status).toBe(200);
    const dave = await issue("dave");
    expect((await dave.call("GET", `/v1/authorizations/${id}`)).status).toBe(404);
    expect((await dave.call("GET", "/v1/authorizations")).body.items).toEqual([]);
    expect((await api.call("GET", `/v1/authorizations?client=carol&state=revoked`)).body.items.map((a: any) => a.id)).toEqual([id]);
  });

  it("a lease whose authorization goes away waits, says why, and goes on once approved again", async () => {
    const erin = await issue("erin");
    const asked = await erin.call("POST", `/v1/blueprints/${localHost}/authorizations`);
    const id = asked.body.id;
    expect((await api.call("POST", `/v1/authorizations/${id}/approve`)).status).toBe(200);

    // Hold the lease back with a disabled blueprint, revoke meanwhile, then enable again.
    expect((await api.call("POST", `/v1/blueprints/${localHost}/disable`, { reason: "hold" })).status).toBe(200);
    expect((await api.call("POST", `/v1/blueprints/${poolB}/disable`, { reason: "hold" })).status).toBe(200);
    const lease = await erin.call("POST", "/v1/leases", { resourceType: "host" });
    expect(lease.status).toBe(202);
    const held = await erin.pollLease(lease.body.id, (l) => /disabled/.test(l.waitReason ?? ""));
    expect(held.waitReason).toBe("no host blueprint that could serve this lease is authorized for erin (the authorized ones are disabled)");
    expect((await api.call("POST", `/v1/authorizations/${id}/revoke`, {})).body.releasedLeaseIds).toEqual([]);
    expect((await api.call("POST", `/v1/blueprints/${localHost}/enable`)).status).toBe(200);
    expect((await api.call("POST", `/v1/blueprints/${poolB}/enable`)).status).toBe(200);

    // (While both were disabled it waited for "… authorized for erin (the authorized ones are disabled)".)
    const reason = "no host blueprint that could serve this lease is authorized for erin";
    const waiting = await erin.pollLease(lease.body.id, (l) => l.waitReason === reason);
    expect(waiting.status).toBe("pending");
    const history = (await erin.call("GET", `/v1/leases/${lease.body.id}/events`)).body.items;
    const last = history.filter((e: any) => e.type === "AllocationAttempted").at(-1);
    expect(last.data.candidates).toEqual(
      expect.arrayContaining([
        { kind: "blueprint", id: localHost, outcome: "skipped", reason: "not authorized for erin" },
        { kind: "blueprint", id: poolB, outcome: "skipped", reason: "not authorized for erin" },
      ]),
    );

    // Approving again wakes it: no need to wait for its backoff.
    const t = Date.now();
    expect((await api.call("POST", `/v1/authorizations/${id}/approve`)).status).toBe(200);
    const active = await erin.pollLease(lease.body.id, (l) => l.status === "active", 10_000);
    expect(active.blueprintId).toBe(localHost);
    expect(Date.now() - t).toBeLessThan(5_000);
    expect((await erin.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
  });

  it("admins need no authorization; their leases say so (authorizingObject null)", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [poolB] });
    expect(lease.status, lease.text).toBe(201);
    const requested = (await api.drydock.store.readStream(`lease-${lease.body.id}`))[0]!;
    expect(requested.data).toMatchObject({ owner: "admin", authorizingObject: null });
    expect((await api.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
  });
});

import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Default lease TTLs (issue 14, "no leaked slots"), over HTTP: a request that names no TTL gets
 * one and says so (ttlSeconds, ttlSource, expiresAt); a token's default beats the blueprint's,
 * which beats the service's; a lease without a TTL is an admin's explicit choice; and an expired
 * lease is released by the system. The service runs on a clock the test moves, so every expiry
 * below is exact and the expiry itself needs no waiting.
 */
const START = new Date("2026-05-01T08:00:00.000Z");
const clock = new ManualClock(START);
let api: ApiHarness;
let localHost: string;
/** A second local-host blueprint whose config sets a default TTL of 10 minutes. */
let short: string;

const plus = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

beforeAll(async () => {
  api = await startApi({}, { clock });
  localHost = await api.localHostBlueprintId();
  const created = await api.call("POST", "/v1/blueprints", {
    name: "short-leases",
    kind: "local-host",
    config: { slots: 4, root: path.join(api.root, "short"), defaultLeaseTtlSeconds: 600 },
  });
  if (created.status !== 201) throw new Error(`blueprint: ${created.status} ${created.text}`);
  short = created.body.id;
});
afterAll(async () => {
  await api?.close();
});

/** A client token with an optional default TTL, approved on the given blueprints. */
async function clientToken(owner: string, blueprintIds: string[], defaultLeaseTtlSeconds?: number) {
  const issued = await api.call("POST", "/v1/tokens", { owner, role: "client", ...(defaultLeaseTtlSeconds ? { defaultLeaseTtlSeconds } : {}) });
  if (issued.status !== 201) throw new Error(`token: ${issued.status} ${issued.text}`);
  for (const blueprintId of blueprintIds) {
    const asked = await api.call("POST", `/v1/blueprints/${blueprintId}/authorizations`, { client: owner });
    if (asked.body.state !== "approved") await api.call("POST", `/v1/authorizations/${asked.body.id}/approve`);
  }
  return { issued: issued.body, ...api.as(issued.body.token) };
}

async function release(id: string) {
  expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
}

describe("default lease TTLs", () => {
  it("an old-style request without ttlSeconds gets the service default (3600 s) and its expiresAt", async () => {
    const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [localHost] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: "active", ttlSeconds: 3600, ttlSource: "service" });
    expect(res.body.expiresAt).toBe(plus(res.body.requestedAt, 3600));
    const events = await api.call("GET", `/v1/leases/${res.body.id}/events`);
    expect(events.body.items[0].data).toMatchObject({ ttlSeconds: 3600, expiresAt: res.body.expiresAt, ttlSource: "service" });
    await release(res.body.id);
  });

  it("the acquiring blueprint's default replaces the service's, counted from the acquisition", async () => {
    const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [short] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ blueprintId: short, ttlSeconds: 600, ttlSource: "blueprint" });
    expect(res.body.expiresAt).toBe(plus(res.body.acquiredAt, 600));
    const events = (await api.call("GET", `/v1/leases/${res.body.id}/events`)).body.items;
    expect(events[0].data).toMatchObject({ ttlSeconds: 3600, ttlSource: "service" });
    expect(events.find((e: any) => e.type === "LeaseAcquired").data.blueprintTtl).toEqual({ ttlSeconds: 600, expiresAt: res.body.expiresAt });
    const explained = await api.call("GET", `/v1/leases/${res.body.id}/explain`);
    expect(JSON.stringify(explained.body)).toContain("its blueprint's default TTL of 600 s");

    // A renewal sets the TTL from then on, and the record says so.
    const renewed = await api.call("POST", `/v1/leases/${res.body.id}/renew`, { ttlSeconds: 7200 });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ ttlSeconds: 7200, ttlSource: "renewal", expiresAt: plus(clock.now().toISOString(), 7200) });
    await release(res.body.id);
  });

  it("a request's ttlSeconds beats its token's default, which beats the blueprint's", async () => {
    const ci = await clientToken("ttl-ci", [short], 120);
    expect(ci.issued.defaultLeaseTtlSeconds).toBe(120);
    expect((await api.call("GET", `/v1/tokens`)).body.items.find((t: any) => t.id === ci.issued.id).defaultLeaseTtlSeconds).toBe(120);

    const byToken = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [short] });
    expect(byToken.status).toBe(201);
    expect(byToken.body).toMatchObject({ ttlSeconds: 120, ttlSource: "client", expiresAt: plus(byToken.body.requestedAt, 120) });
    const acquired = (await ci.call("GET", `/v1/leases/${byToken.body.id}/events`)).body.items.find((e: any) => e.type === "LeaseAcquired");
    expect(acquired.data.blueprintTtl).toBeUndefined();

    const byRequest = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [short], ttlSeconds: 30 });
    expect(byRequest.status).toBe(201);
    expect(byRequest.body).toMatchObject({ ttlSeconds: 30, ttlSource: "request", expiresAt: plus(byRequest.body.requestedAt, 30) });
    for (const id of [byToken.body.id, byRequest.body.id]) expect((await ci.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
  });

  it("a token's default TTL is checked when it is issued", async () => {
    for (const bad of [0, 1.5, 2592001, "60"]) {
      const res = await api.call("POST", "/v1/tokens", { owner: "ttl-bad", role: "client", defaultLeaseTtlSeconds: bad });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^defaultLeaseTtlSeconds: /);
    }
    // Nothing was issued (the whole log is no measure here: the worker may still be cleaning up
    // earlier tests' leases).
    const tokens = await api.call("GET", "/v1/tokens");
    expect(tokens.body.items.filter((t: { owner: string }) => t.owner === "ttl-bad")).toEqual([]);
  });

  it("a blueprint's default TTL is checked on create and on PATCH", async () => {
    const bad = await api.call("PATCH", `/v1/blueprints/${short}`, { config: { slots: 4, root: path.join(api.root, "short"), defaultLeaseTtlSeconds: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/defaultLeaseTtlSeconds/);
  });

  it("no TTL (ttlSeconds: null) is refused to a client with 403 naming the field, and given to an admin", async () => {
    const ci = await clientToken("ttl-forever", [localHost]);
    // Earlier tests' leases may still be cleaned up by the worker meanwhile: count what this
    // client could have appended, its own leases.
    const requestedBy = async () => (await api.call("GET", "/v1/events?type=LeaseRequested&actor=ttl-forever")).body.items.length;
    const before = await requestedBy();
    const refused = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host", ttlSeconds: null });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: "forbidden", details: { field: "ttlSeconds" } });
    expect(refused.body.error.message).toMatch(/^ttlSeconds: only an admin may ask for a lease without a TTL/);
    expect(await requestedBy()).toBe(before);
    expect((await ci.call("GET", "/v1/leases")).body.items).toEqual([]);

    const forever = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [short], ttlSeconds: null });
    expect(forever.status).toBe(201);
    // Not even the blueprint's default: the admin asked for none.
    expect(forever.body).toMatchObject({ ttlSeconds: null, ttlSource: "request", expiresAt: null });
    await release(forever.body.id);
  });

  it("the system releases a lease whose default TTL has passed", async () => {
    const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", blueprintIds: [localHost] });
    expect(res.status).toBe(201);
    expect(res.body.ttlSeconds).toBe(3600);
    const stream = `lease-${res.body.id}`;

    // One second before: the expiry step, run now, leaves it active.
    clock.set(new Date(Date.parse(res.body.expiresAt) - 1000));
    await api.drydock.worker.runNow(stream);
    expect((await api.call("GET", `/v1/leases/${res.body.id}`)).body.status).toBe("active");

    clock.set(new Date(Date.parse(res.body.expiresAt) + 1000));
    const expired = await waitUntil(
      `lease ${res.body.id} released on expiry`,
      async () => {
        await api.drydock.worker.runNow(stream);
        const lease = (await api.call("GET", `/v1/leases/${res.body.id}`)).body;
        return lease.status === "released" || lease.status === "destroyed" ? lease : undefined;
      },
      10_000,
    );
    expect(expired.endReason).toBe(`expired: its TTL ended at ${res.body.expiresAt}`);
    const released = (await api.call("GET", `/v1/leases/${res.body.id}/events`)).body.items.find((e: any) => e.type === "LeaseReleased");
    expect(released.data).toMatchObject({ reason: "expired" });
    expect(released.metadata.actor).toMatch(/^allocator:/);
  });
});

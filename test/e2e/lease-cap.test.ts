import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * A cap on renewals (issue #11, point 5), over HTTP: a blueprint's `maxLeaseSeconds` keeps every
 * lease of it from expiring later than its request time plus the cap. A renewal past the cap is
 * answered with the capped expiry and says so (`capped`, and LeaseRenewed records it); a lease
 * past its cap cannot be renewed (409 naming the cap); an initial TTL past the cap is cut at
 * acquisition. The service runs on a clock the test moves; each case ends with verify passing.
 */
const T0 = new Date("2026-07-01T08:00:00.000Z");
const clock = new ManualClock(T0);
let api: ApiHarness;
let capped: string;

const plus = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], clock });
  const made = await api.call("POST", "/v1/blueprints", { name: "capped-pool", kind: "memory-pool", config: { slots: 4 }, resourceLimit: 1, maxLeaseSeconds: 3600 });
  if (made.status !== 201) throw new Error(`blueprint: ${made.status} ${made.text}`);
  capped = made.body.id;
});
afterAll(async () => {
  await api?.close();
});

async function activeLease(ttlSeconds: number) {
  const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "sandbox", blueprintIds: [capped], ttlSeconds });
  expect(res.status).toBe(201);
  return res.body;
}

async function expectVerified() {
  const report = await verifyStoredLog(api.drydock.store, { now: clock.now(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
}

describe("maxLeaseSeconds: a cap on renewals", () => {
  it("is a blueprint setting, shown and changed like the limit", async () => {
    expect((await api.call("GET", `/v1/blueprints/${capped}`)).body.maxLeaseSeconds).toBe(3600);
    const before = await api.eventCount();
    const zero = await api.call("PATCH", `/v1/blueprints/${capped}`, { maxLeaseSeconds: 0 });
    expect(zero.status).toBe(400);
    expect(zero.text).toContain("maxLeaseSeconds");
    const text = await api.call("POST", "/v1/blueprints", { name: "bad-cap", kind: "memory-pool", maxLeaseSeconds: "an hour" });
    expect(text.status).toBe(400);
    expect(text.text).toContain("maxLeaseSeconds");
    expect(await api.eventCount()).toBe(before);
    const other = await api.call("POST", "/v1/blueprints", { name: "uncapped", kind: "memory-pool" });
    expect(other.body.maxLeaseSeconds).toBeNull();
  });

  it("cuts a renewal past the cap to the cap, says so, and records it; one within it is as asked", async () => {
    clock.set(T0);
    const lease = await activeLease(3000);
    expect(lease.expiresAt).toBe(plus(lease.requestedAt, 3000));
    const cap = plus(lease.requestedAt, 3600);

    clock.set(new Date(Date.parse(lease.requestedAt) + 1800_000));
    const within = await api.call("POST", `/v1/leases/${lease.id}/renew`, { ttlSeconds: 600 });
    expect(within.status).toBe(200);
    expect(within.body).toMatchObject({ capped: null, expiresAt: plus(clock.now().toISOString(), 600) });

    const past = await api.call("POST", `/v1/leases/${lease.id}/renew`, { ttlSeconds: 7200 });
    expect(past.status).toBe(200);
    expect(past.body.capped).toEqual({ maxLeaseSeconds: 3600, at: cap });
    expect(past.body.expiresAt).toBe(cap);
    expect(past.body.ttlSeconds).toBe(1800);
    const events = (await api.call("GET", `/v1/leases/${lease.id}/events`)).body.items;
    expect(events.at(-1)).toMatchObject({ type: "LeaseRenewed", data: { ttlSeconds: 1800, expiresAt: cap, capped: { maxLeaseSeconds: 3600, at: cap } } });
    const explained = JSON.stringify((await api.call("GET", `/v1/leases/${lease.id}/explain`)).body.timeline);
    expect(explained).toContain(`renewed until ${cap} (capped by its blueprint's maxLeaseSeconds of 3600 s`);

    expect((await api.call("POST", `/v1/leases/${lease.id}/release`)).status).toBe(200);
    await api.pollLease(lease.id, (l) => l.status === "destroyed");
    await expectVerified();
  });

  it("refuses to renew a lease past its cap (409 naming the cap) and appends nothing", async () => {
    clock.set(T0);
    const lease = await activeLease(3000);
    // The operator tightens the cap: this lease, 30 minutes old, is past a cap of 20.
    expect((await api.call("PATCH", `/v1/blueprints/${capped}`, { maxLeaseSeconds: 1200 })).status).toBe(200);
    clock.set(new Date(Date.parse(lease.requestedAt) + 1800_000));
    const before = await api.eventCount();
    const refused = await api.call("POST", `/v1/leases/${lease.id}/renew`, { ttlSeconds: 60 });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("maxLeaseSeconds 1200");
    expect(refused.body.error.message).toContain(plus(lease.requestedAt, 1200));
    expect(await api.eventCount()).toBe(before);
    expect((await api.call("PATCH", `/v1/blueprints/${capped}`, { maxLeaseSeconds: 3600 })).status).toBe(200);
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`)).status).toBe(200);
    await api.pollLease(lease.id, (l) => l.status === "destroyed");
    await expectVerified();
  });

  it("cuts an initial TTL past the cap at acquisition, and a lease without a cap is as asked", async () => {
    clock.set(T0);
    const lease = await activeLease(7200);
    expect(lease.expiresAt).toBe(plus(lease.requestedAt, 3600));
    const acquired = (await api.call("GET", `/v1/leases/${lease.id}/events`)).body.items.find((e: any) => e.type === "LeaseAcquired");
    expect(acquired.data.capped).toEqual({ maxLeaseSeconds: 3600, at: plus(lease.requestedAt, 3600) });
    expect((await api.call("POST", `/v1/leases/${lease.id}/release`)).status).toBe(200);
    await api.pollLease(lease.id, (l) => l.status === "destroyed");

    // Without a cap (PATCH null), the TTL stands.
    expect((await api.call("PATCH", `/v1/blueprints/${capped}`, { maxLeaseSeconds: null })).body.maxLeaseSeconds).toBeNull();
    const free = await activeLease(7200);
    expect(free.expiresAt).toBe(plus(free.requestedAt, 7200));
    const renewed = await api.call("POST", `/v1/leases/${free.id}/renew`, { ttlSeconds: 9000 });
    expect(renewed.body.capped).toBeNull();
    expect((await api.call("POST", `/v1/leases/${free.id}/release`)).status).toBe(200);
    await api.pollLease(free.id, (l) => l.status === "destroyed");
    await expectVerified();
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Holds (issue #11, point 3), over HTTP: an admin holds a resource and releases the hold; a held
 * resource takes no new lease (the allocator says "on hold: <reason>", and explain names it) and
 * is not destroyed once released or broken; a hold ends by itself at its time (through the work
 * queue); a lease with `holdOnFailure` puts its resource on hold when it fails there. The service
 * runs on a clock the test moves; each case ends with `drydock verify` passing.
 */
const clock = new ManualClock(new Date("2026-06-01T08:00:00.000Z"));
let api: ApiHarness;
let pool: string;
let failing: string;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], clock });
  const made = await api.call("POST", "/v1/blueprints", { name: "hold-pool", kind: "memory-pool", config: { slots: 1 }, resourceLimit: 1 });
  if (made.status !== 201) throw new Error(`blueprint: ${made.status} ${made.text}`);
  pool = made.body.id;
  const bad = await api.call("POST", "/v1/blueprints", { name: "bad-setup", kind: "memory-pool", config: { slots: 1, failLeaseActivation: true }, resourceLimit: 1 });
  if (bad.status !== 201) throw new Error(`blueprint: ${bad.status} ${bad.text}`);
  failing = bad.body.id;
});
afterAll(async () => {
  await api?.close();
});

async function activeLease(blueprintId: string, extra: Record<string, unknown> = {}) {
  const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "sandbox", blueprintIds: [blueprintId], ...extra });
  expect(res.status).toBe(201);
  return res.body;
}

async function release(leaseId: string) {
  expect((await api.call("POST", `/v1/leases/${leaseId}/release`)).status).toBe(200);
  await api.pollLease(leaseId, (l) => l.status === "destroyed");
}

const resource = async (id: string) => (await api.call("GET", `/v1/resources/${id}`)).body;

/** Runs the resource's due work until `accept` says yes. */
async function resourceUntil(id: string, what: string, accept: (r: any) => boolean) {
  return waitUntil(
    what,
    async () => {
      await api.drydock.worker.runNow(`resource-${id}`);
      const r = await resource(id);
      return accept(r) ? r : undefined;
    },
    10_000,
  );
}

async function expectVerified() {
  const report = await verifyStoredLog(api.drydock.store, { now: clock.now(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
  return report;
}

describe("holds on resources", () => {
  it("an admin's hold keeps new leases off the resource, says why, and its release lets them on", async () => {
    const first = await activeLease(pool);
    const rid = first.resourceId;
    await release(first.id);

    const held = await api.call("POST", `/v1/resources/${rid}/hold`, { reason: "disk check", untilSeconds: 600 });
    expect(held.status).toBe(200);
    expect(held.body.hold).toEqual({ reason: "disk check", until: new Date(clock.now().getTime() + 600_000).toISOString(), by: "admin", leaseId: null, since: expect.any(String) });
    expect((await api.call("GET", "/v1/resources?held=true")).body.items.map((r: any) => r.id)).toEqual([rid]);
    expect((await api.call("GET", "/v1/resources?held=false")).body.items.map((r: any) => r.id)).not.toContain(rid);

    // The pool's limit is 1: the lease waits, and every attempt names the hold.
    const waiting = await api.call("POST", "/v1/leases?wait=1", { resourceType: "sandbox", blueprintIds: [pool] });
    expect(waiting.status).toBe(202);
    const events = (await api.call("GET", `/v1/leases/${waiting.body.id}/events`)).body.items;
    const attempt = events.find((e: any) => e.type === "AllocationAttempted");
    expect(attempt.data.candidates).toContainEqual(expect.objectContaining({ kind: "resource", id: rid, outcome: "skipped", reason: expect.stringMatching(/^on hold: disk check \(by admin, until /) }));
    const explained = await api.call("GET", `/v1/leases/${waiting.body.id}/explain`);
    // The wait's reason, in the timeline and (once it has lasted) in the summary's share of it.
    expect(JSON.stringify(explained.body.timeline)).toContain(`waiting: 1 matching resource busy or unsuitable; ${rid} on hold: disk check (by admin`);

    const unheld = await api.call("DELETE", `/v1/resources/${rid}/hold?reason=looked`);
    expect(unheld.status).toBe(200);
    expect(unheld.body.hold).toBeNull();
    const active = await waitUntil(
      "the waiting lease lands on the released resource",
      async () => {
        await api.drydock.worker.runNow(`lease-${waiting.body.id}`);
        const l = (await api.call("GET", `/v1/leases/${waiting.body.id}`)).body;
        return l.status === "active" ? l : undefined;
      },
      10_000,
    );
    expect(active.resourceId).toBe(rid);

    // No hold to release: 409 naming the state, nothing appended.
    const before = await api.eventCount();
    const again = await api.call("DELETE", `/v1/resources/${rid}/hold`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("not on hold");
    expect(await api.eventCount()).toBe(before);
    await release(active.id);
    await expectVerified();
  });

  it("holds the free slots: a lease decided on one just before the hold loses it, and nothing is stored", async () => {
    const first = await activeLease(pool);
    const rid = first.resourceId;
    await release(first.id);
    const held = await api.call("POST", `/v1/resources/${rid}/hold`, { reason: "race check" });
    expect(held.status).toBe(200);
    // The hold is no lease: the resource shows none, and the slot's lock is the resource's.
    expect((await resource(rid)).liveLeases).toBe(0);
    const locks = await api.drydock.database.db.selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).where("scope_id", "=", rid).execute();
    expect(locks).toContainEqual({ lock_key: `resource:${rid}:slot:0`, owner_stream_id: `resource-${rid}` });

    // A lease the allocator decided on slot 0 before the hold (it saw the slot free), storing its
    // acquisition only now, as a slow allocator would: refused, nothing stored.
    const waiting = await api.call("POST", "/v1/leases", { resourceType: "sandbox", blueprintIds: [pool] });
    expect(waiting.status).toBe(202);
    // The worker's own look at it (it waits: the slot is held) is stored first, so the racer's
    // append below starts from the stream's last version and only the slot lock can refuse it.
    await api.pollLease(waiting.body.id, (l) => l.waitReason !== null);
    const state = await api.drydock.store.loadState(`lease-${waiting.body.id}`);
    expect(state!.status).toBe("pending");
    const before = await api.eventCount();
    const racer = api.drydock.store.append(`lease-${waiting.body.id}`, state!.version, [{ type: "LeaseAcquired", data: { resourceId: rid, blueprintId: pool, slot: 0, locks: [`resource:${rid}:slot:0`] } }], { actor: "allocator:slow" });
    await expect(racer).rejects.toMatchObject({ code: "capacity_conflict" });
    expect(await api.eventCount()).toBe(before);

    // The hold's release gives the slot back, and the waiting lease lands there.
    expect((await api.call("DELETE", `/v1/resources/${rid}/hold`)).status).toBe(200);
    expect(await api.drydock.database.db.selectFrom("slot_locks").select("lock_key").where("owner_stream_id", "=", `resource-${rid}`).where("scope_id", "=", rid).execute()).toEqual([]);
    const landed = await waitUntil("the waiting lease to land on the resource", async () => {
      await api.drydock.worker.runNow(`lease-${waiting.body.id}`);
      const l = (await api.call("GET", `/v1/leases/${waiting.body.id}`)).body;
      return l.status === "active" ? l : undefined;
    }, 10_000);
    expect(landed.resourceId).toBe(rid);
    await release(landed.id);
    await expectVerified();
  });

  it("a released resource on hold is not destroyed until the hold is released", async () => {
    const lease = await activeLease(pool);
    const rid = lease.resourceId;
    expect((await api.call("POST", `/v1/resources/${rid}/hold`, { reason: "keep the logs" })).body.hold.until).toBeNull();
    expect((await api.call("POST", `/v1/resources/${rid}/release`)).status).toBe(200);

    // Its lease is let go as usual; the teardown waits, and says so.
    await api.pollLease(lease.id, (l) => l.status === "destroyed");
    await resourceUntil(rid, "the destroy step defers", () => true);
    const kept = await resource(rid);
    expect(kept.status).toBe("released");
    const types = (await api.call("GET", `/v1/resources/${rid}/events`)).body.items.map((e: any) => e.type);
    expect(types).toContain("ResourceDestroyDeferred");
    expect(types).not.toContain("ResourceDestroyed");
    const report = await expectVerified();
    expect(report.held).toContainEqual({ streamId: `resource-${rid}`, status: "released", reason: "keep the logs", until: null });
    expect((await api.call("GET", "/metrics")).text).toContain(`drydock_resources_held{blueprint="${pool}",status="released"} 1`);

    expect((await api.call("DELETE", `/v1/resources/${rid}/hold`)).status).toBe(200);
    await resourceUntil(rid, "destroyed once the hold is released", (r) => r.status === "destroyed");
    expect((await expectVerified()).held).toEqual([]);
  });

  it("a hold ends by itself at its time", async () => {
    const lease = await activeLease(pool);
    const rid = lease.resourceId;
    await release(lease.id);
    const held = (await api.call("POST", `/v1/resources/${rid}/hold`, { reason: "one minute", untilSeconds: 60 })).body.hold;
    clock.set(new Date(Date.parse(held.until) - 1000));
    await api.drydock.worker.runNow(`resource-${rid}`);
    expect((await resource(rid)).hold).not.toBeNull();
    clock.set(new Date(Date.parse(held.until) + 1000));
    await resourceUntil(rid, "the hold expires", (r) => r.hold === null);
    const ended = (await api.call("GET", `/v1/resources/${rid}/events`)).body.items.at(-1);
    expect(ended).toMatchObject({ type: "ResourceHoldReleased", data: { reason: `expired at ${held.until}` } });
    expect((await api.call("GET", "/v1/resources?held=true")).body.items).toEqual([]);
    await expectVerified();
  });

  it("refuses bad holds with 400 naming the field, a client's with 403, and appends nothing", async () => {
    const lease = await activeLease(pool);
    const rid = lease.resourceId;
    const client = await api.client("hold-client", { blueprintIds: [pool] });
    const before = await api.eventCount();
    const zero = await api.call("POST", `/v1/resources/${rid}/hold`, { reason: "x", untilSeconds: 0 });
    expect(zero.status).toBe(400);
    expect(zero.text).toContain("untilSeconds");
    const noReason = await api.call("POST", `/v1/resources/${rid}/hold`, {});
    expect(noReason.status).toBe(400);
    expect(noReason.text).toContain("reason");
    const badHold = await api.call("POST", "/v1/leases", { resourceType: "sandbox", holdOnFailure: { seconds: 0 } });
    expect(badHold.status).toBe(400);
    expect(badHold.text).toContain("holdOnFailure");
    const tooLong = await api.call("POST", "/v1/leases", { resourceType: "sandbox", holdOnFailure: { seconds: 8 * 24 * 3600 } });
    expect(tooLong.status).toBe(400);
    const forbidden = await client.call("POST", `/v1/resources/${rid}/hold`, { reason: "mine now" });
    expect(forbidden.status).toBe(403);
    expect((await client.call("DELETE", `/v1/resources/${rid}/hold`)).status).toBe(403);
    expect(await api.eventCount()).toBe(before);
    const missing = await api.call("POST", "/v1/resources/rs_nope/hold", { reason: "x" });
    expect(missing.status).toBe(404);
    await release(lease.id);
    await expectVerified();
  });
});

describe("holdOnFailure", () => {
  it("a lease whose setup fails for good puts its resource on hold, naming the lease", async () => {
    const res = await api.call("POST", "/v1/leases?wait=10", { resourceType: "sandbox", blueprintIds: [failing], holdOnFailure: { seconds: 300 } });
    const lease = await api.pollLease(res.body.id, (l) => l.status === "broken" || l.status === "destroyed");
    const r = await resource(lease.resourceId);
    expect(r.status).toBe("active");
    expect(r.hold).toMatchObject({ by: `lease ${lease.id}`, leaseId: lease.id, reason: expect.stringContaining("activation failed: the lease's setup script failed") });
    expect(Date.parse(r.hold.until)).toBe(clock.now().getTime() + 300_000);
    const text = JSON.stringify((await api.call("GET", `/v1/leases/${lease.id}/explain`)).body.timeline);
    expect(text).toContain(`on hold: lease ${lease.id} failed on it`);

    // Time up: the hold ends, and the resource takes leases again.
    clock.set(new Date(Date.parse(r.hold.until) + 1000));
    await resourceUntil(lease.resourceId, "the failure hold expires", (x) => x.hold === null);
    await expectVerified();
  });

  it("a resource that breaks under an active lease is kept on hold, and destroyed when the hold ends", async () => {
    const lease = await activeLease(pool, { holdOnFailure: { seconds: 120 } });
    const rid = lease.resourceId;
    const row = await resource(rid);
    // As the health loop does when a check fails.
    await api.drydock.store.append(`resource-${rid}`, row.version, [{ type: "ResourceBroken", data: { reason: "health check failed: disk full", error: null } }], { actor: "system" });
    await resourceUntil(rid, "held and waiting", (r) => r.hold !== null && r.status === "broken");
    await api.pollLease(lease.id, (l) => l.status === "destroyed");
    const held = await resource(rid);
    expect(held.hold).toMatchObject({ leaseId: lease.id, reason: expect.stringContaining("disk full") });
    await api.drydock.worker.runNow(`resource-${rid}`);
    expect((await resource(rid)).status).toBe("broken");
    const explained = JSON.stringify((await api.call("GET", `/v1/leases/${lease.id}/explain`)).body.timeline);
    expect(explained).toContain(`on hold: lease ${lease.id} failed on it`);
    expect(explained).toContain("not destroyed yet: destroy waits: on hold:");
    await expectVerified();

    clock.set(new Date(Date.parse(held.hold.until) + 1000));
    await resourceUntil(rid, "destroyed after the hold", (r) => r.status === "destroyed");
    await expectVerified();
  });

  it("a lease released by its client puts no hold", async () => {
    const lease = await activeLease(pool, { holdOnFailure: { seconds: 120 } });
    await release(lease.id);
    expect((await resource(lease.resourceId)).hold).toBeNull();
    await expectVerified();
  });
});

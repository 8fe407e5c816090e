import { afterAll, beforeAll, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * maxLeasesPerResource under racing allocators: each lease acquired on a counted resource takes
 * the resource's next use number (`resource:<id>:use:<n>`, a unique lock the resource keeps until
 * it is destroyed). Two leases decided at once on the same count cannot both land: the second is
 * refused, stores nothing, and decides again on the new count. The background worker is off, so
 * the test is the only allocator, and plays the slow one by hand.
 */
let api: ApiHarness;
let bp: string;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false });
  const made = await api.call("POST", "/v1/blueprints", { name: "counted", kind: "memory-pool", config: { slots: 3 }, resourceLimit: 1, maxLeasesPerResource: 2 });
  expect(made.status, made.text).toBe(201);
  bp = made.body.id;
});

afterAll(async () => {
  await api?.close();
});

const work = () => api.runDueWork();
const ask = async () => (await api.call("POST", "/v1/leases?wait=1", { resourceType: "sandbox", blueprintIds: [bp] })).body.id as string;
const lease = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body;

it("a second lease decided on the same count cannot land: the use number is taken, nothing is stored", async () => {
  const first = await ask();
  const active = await api.runDueWorkUntil(first, "active");
  const rid = active.resourceId as string;
  const use1 = (await api.call("GET", `/v1/leases/${first}/events`)).body.items.find((e: { type: string }) => e.type === "LeaseAcquired");
  // The first lease built the resource: it is its first use, counted from its row.
  expect(use1.data.locks).toEqual([`resource:${rid}:slot:0`]);

  // Two leases decided at once, both seeing one lease served: both want use number 2.
  const [a, b] = [await api.call("POST", "/v1/leases", { resourceType: "sandbox", blueprintIds: [bp] }), await api.call("POST", "/v1/leases", { resourceType: "sandbox", blueprintIds: [bp] })];
  const racers: [string, string] = [a.body.id as string, b.body.id as string];
  const states = await Promise.all(racers.map((id) => api.drydock.store.loadState(`lease-${id}`)));
  const acquire = (i: number, slot: number) =>
    api.drydock.store.append(`lease-${racers[i]}`, states[i]!.version, [{ type: "LeaseAcquired", data: { resourceId: rid, blueprintId: bp, slot, locks: [`resource:${rid}:slot:${slot}`, `resource:${rid}:use:2`] } }], { actor: "allocator:racer" });
  await acquire(0, 1);
  const before = await api.eventCount();
  await expect(acquire(1, 2)).rejects.toMatchObject({ code: "capacity_conflict" });
  expect(await api.eventCount()).toBe(before);
  // The use number stays with the resource after its lease ends; the slot does not.
  const locks = async () => (await api.drydock.database.db.selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).where("scope_id", "=", rid).orderBy("lock_key").execute());
  expect(await locks()).toContainEqual({ lock_key: `resource:${rid}:use:2`, owner_stream_id: `resource-${rid}` });
  expect((await api.call("POST", `/v1/leases/${racers[0]}/release`)).status).toBe(200);
  await work();
  expect((await locks()).map((l) => l.lock_key)).toContain(`resource:${rid}:use:2`);
  expect((await locks()).map((l) => l.lock_key)).not.toContain(`resource:${rid}:slot:1`);

  // The loser decides again: the resource served 2, its count; it takes no new lease, and the
  // lease waits for the next resource (the limit is 1, and the first lease still holds this one).
  await api.drydock.worker.runNow(`lease-${racers[1]}`);
  const loser = await lease(racers[1]);
  expect(loser.status).toBe("pending");
  const attempt = (await api.call("GET", `/v1/leases/${racers[1]}/events`)).body.items.filter((e: { type: string }) => e.type === "AllocationAttempted").at(-1);
  expect(attempt.data.candidates).toContainEqual(expect.objectContaining({ kind: "resource", id: rid, outcome: "skipped", reason: expect.stringMatching(/^recycled: maxLeasesPerResource 2 reached/) }));

  // Once the first lease ends, the recycled resource goes, a new one is built, and the loser lands there.
  expect((await api.call("POST", `/v1/leases/${first}/release`)).status).toBe(200);
  for (let i = 0; i < 20 && (await lease(racers[1])).status !== "active"; i++) {
    await work();
    await api.drydock.worker.runNow(`blueprint-${bp}`);
    await api.drydock.worker.runNow(`lease-${racers[1]}`);
  }
  const landed = await lease(racers[1]);
  expect(landed.status).toBe("active");
  expect(landed.resourceId).not.toBe(rid);
  expect((await api.call("GET", `/v1/resources/${rid}`)).body.endReason).toMatch(/^recycled: maxLeasesPerResource 2 reached/);
  await api.call("POST", `/v1/leases/${racers[1]}/release`);
  await work();
  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
});

import { afterAll, beforeAll, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * A client's quota under racing allocators: each lease that carries a quota takes a free quota
 * number of its owner's with its slot (`quota:<owner>:all:<n>`, n below the limit), held until
 * the lease ends. Two leases decided at once on the same count cannot both land: the second is
 * refused, stores nothing, and decides again, now over its owner's quota. The background worker
 * is off, so the test is the only allocator, and plays the slow one by hand.
 */
let api: ApiHarness;
let bp: string;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false });
  const made = await api.call("POST", "/v1/blueprints", { name: "pool", kind: "memory-pool", config: { slots: 4 }, resourceLimit: 1 });
  expect(made.status, made.text).toBe(201);
  bp = made.body.id;
});

afterAll(async () => {
  await api?.close();
});

const work = () => api.runDueWork();
const lease = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body;
const acquiredLocks = async (id: string) => (await api.call("GET", `/v1/leases/${id}/events`)).body.items.find((e: { type: string }) => e.type === "LeaseAcquired")?.data.locks as string[];

it("a second lease decided on the same count cannot land: its owner's quota number is taken, nothing is stored", async () => {
  const issued = await api.call("POST", "/v1/tokens", { owner: "team-a", role: "client", leaseQuota: { maxLiveLeases: 1 } });
  expect(issued.status, issued.text).toBe(201);
  const teamA = api.as(issued.body.token);
  const asked = await api.call("POST", `/v1/blueprints/${bp}/authorizations`, { client: "team-a" });
  if (asked.body.state !== "approved") expect((await api.call("POST", `/v1/authorizations/${asked.body.id}/approve`)).status).toBe(200);

  // A lease of another owner builds the resource; team-a's first lease lands beside it, with quota number 0.
  const other = (await api.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id as string;
  await work();
  const rid = (await lease(other)).resourceId as string;
  expect(rid).toBeTruthy();
  const first = (await teamA.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id as string;
  await work();
  expect((await lease(first)).status).toBe("active");
  const slotOf = async (id: string) => Number((await acquiredLocks(id))[0]!.slice(`resource:${rid}:slot:`.length));
  const otherSlot = await slotOf(other);
  expect(await acquiredLocks(first)).toEqual([expect.stringMatching(new RegExp(`^resource:${rid}:slot:[0-3]$`)), "quota:team-a:all:0"]);
  expect(await slotOf(first)).not.toBe(otherSlot);
  expect((await teamA.call("POST", `/v1/leases/${first}/release`)).status).toBe(200);
  await work();

  // Two leases of team-a decided at once, both seeing no live lease: both want quota number 0.
  const racers: [string, string] = [(await teamA.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id as string, (await teamA.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id as string];
  const states = await Promise.all(racers.map((id) => api.drydock.store.loadState(`lease-${id}`)));
  const acquire = (i: number, slot: number) =>
    api.drydock.store.append(`lease-${racers[i]}`, states[i]!.version, [{ type: "LeaseAcquired", data: { resourceId: rid, blueprintId: bp, slot, locks: [`resource:${rid}:slot:${slot}`, "quota:team-a:all:0"] } }], { actor: "allocator:racer" });
  // Two slots the other owner's lease does not hold.
  const [free0, free1] = [0, 1, 2, 3].filter((slot) => slot !== otherSlot) as [number, number];
  await acquire(0, free0);
  const before = await api.eventCount();
  // A free slot, but the quota number is taken.
  await expect(acquire(1, free1)).rejects.toMatchObject({ code: "capacity_conflict", message: expect.stringContaining("quota:team-a:all:0") });
  expect(await api.eventCount()).toBe(before);
  expect((await lease(racers[1])).status).toBe("pending");

  // The loser decides again: its owner is at its quota, so it waits on it, with slots free.
  await api.drydock.worker.runNow(`lease-${racers[1]}`);
  const loser = await lease(racers[1]);
  expect(loser.status).toBe("pending");
  expect(loser.waitReason).toBe("quota: team-a holds 1 live lease, its quota is 1");

  // The winner's end gives the number back, and the loser takes it.
  expect((await teamA.call("POST", `/v1/leases/${racers[0]}/release`)).status).toBe(200);
  for (let i = 0; i < 10 && (await lease(racers[1])).status !== "active"; i++) {
    await work();
    await api.drydock.worker.runNow(`lease-${racers[1]}`);
  }
  expect((await lease(racers[1])).status).toBe("active");
  expect(await acquiredLocks(racers[1])).toContain("quota:team-a:all:0");
  for (const id of [racers[1], other]) await api.call("POST", `/v1/leases/${id}/release`);
  await work();
  const left = await api.drydock.database.db.selectFrom("slot_locks").select("lock_key").where("lock_key", "like", "quota:%").execute();
  expect(left).toEqual([]);
  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
});

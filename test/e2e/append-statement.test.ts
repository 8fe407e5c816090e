import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewEvent } from "../../events/envelope";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * A lease append sent as one statement (src/store/append-statement.ts) is all or nothing, like
 * the transaction it replaces: a refused lock, a stream moved by another writer, or a state
 * from a version the stream never reached stores none of its writes (events, stream row, lease
 * row, slot locks, work item). The worker is off: the test plays the racing allocator by hand.
 */
let api: ApiHarness;
let bp: string;
let rid: string;
let holder: string;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false });
  const made = await api.call("POST", "/v1/blueprints", { name: "pool", kind: "memory-pool", config: { slots: 4 }, resourceLimit: 1 });
  expect(made.status, made.text).toBe(201);
  bp = made.body.id;
  holder = (await api.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id;
  // Until active, bounded: one pass of the due work can end before the resource's activation is due (seen once in CI).
  const held = await api.runDueWorkUntil(holder, "active");
  rid = held.resourceId;
});

afterAll(async () => {
  await api?.close();
});

const db = () => api.drydock.database.db;
const actor = { actor: "allocator:racer" };

/** Everything an append of this lease could write. */
async function written(leaseId: string) {
  const stream = `lease-${leaseId}`;
  return {
    events: await api.eventCount(),
    stream: await db().selectFrom("streams").select(["version", "state"]).where("stream_id", "=", stream).executeTakeFirst(),
    lease: await db().selectFrom("leases").selectAll().where("lease_id", "=", leaseId).executeTakeFirst(),
    work: await db().selectFrom("work_items").selectAll().where("stream_id", "=", stream).executeTakeFirst(),
    locks: await db().selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).orderBy("lock_key").execute(),
  };
}

const acquired = (slot: number): NewEvent => ({ type: "LeaseAcquired", data: { resourceId: rid, blueprintId: bp, slot, locks: [`resource:${rid}:slot:${slot}`] } });

async function pendingLease(): Promise<string> {
  return (await api.call("POST", "/v1/leases", { resourceType: "sandbox" })).body.id;
}

describe("a one-statement append stores nothing when it is refused", () => {
  it("a slot lock another lease holds: capacity_conflict naming the lock", async () => {
    const racer = await pendingLease();
    const state = (await api.drydock.store.loadState(`lease-${racer}`))!;
    const holderSlot = (await db().selectFrom("leases").select("slot").where("lease_id", "=", holder).executeTakeFirstOrThrow()).slot!;
    const before = await written(racer);
    await expect(api.drydock.store.append(`lease-${racer}`, state.version, [acquired(holderSlot)], actor)).rejects.toMatchObject({
      code: "capacity_conflict",
      message: `slot already taken: resource:${rid}:slot:${holderSlot}`,
    });
    expect(await written(racer)).toEqual(before);
    // A free slot is taken by the same append shape: the refusal was the lock, not the statement.
    await api.drydock.store.append(`lease-${racer}`, state.version, [acquired(3)], actor);
    expect((await written(racer)).lease?.status).toBe("acquired");
  });

  it("a stream another writer moved since the state was loaded: version_conflict with its version", async () => {
    const racer = await pendingLease();
    const stream = `lease-${racer}`;
    const state = (await api.drydock.store.loadState(stream))!;
    // Another writer (another allocator process) appends first.
    const attempt: NewEvent = { type: "AllocationAttempted", data: { attempt: 1, decision: "wait", candidates: [], summary: "busy", durationMs: null } };
    await api.drydock.store.append(stream, state.version, [attempt], actor);
    const before = await written(racer);
    const stale = api.drydock.store.appendMany([{ streamId: stream, expectedVersion: state.version, events: [acquired(2)], expectedState: state }], actor);
    await expect(stale).rejects.toMatchObject({ code: "version_conflict", details: { expected: state.version, actual: state.version + 1 } });
    expect(await written(racer)).toEqual(before);
  });

  it("a state of a version the stream never reached: refused by the statement's guard, nothing stored", async () => {
    const racer = await pendingLease();
    const stream = `lease-${racer}`;
    const state = (await api.drydock.store.loadState(stream))!;
    const before = await written(racer);
    // No event is at version+1 for the events' unique key to refuse: only the stream row's version tells.
    const ahead = api.drydock.store.appendMany([{ streamId: stream, expectedVersion: state.version + 5, events: [acquired(2)], expectedState: state }], actor);
    await expect(ahead).rejects.toMatchObject({ code: "version_conflict", details: { expected: state.version + 5, actual: state.version } });
    expect(await written(racer)).toEqual(before);
  });
});

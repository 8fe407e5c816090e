import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AllocationSnapshot } from "../../src/allocator/allocation-snapshot";
import type { EventStore } from "../../src/store/event-store";
import { startApi, type ApiHarness } from "./api-harness";

/** When armed, the next capacity view read answers only once `release` is called (see the second test). */
const heldRead = vi.hoisted(() => ({ armed: false, read: null as null | (() => void), release: null as null | Promise<void> }));
vi.mock("../../src/allocator/allocation-snapshot", async (original) => {
  const real = await original<typeof import("../../src/allocator/allocation-snapshot")>();
  return {
    ...real,
    async readAllocationSnapshot(...args: Parameters<typeof real.readAllocationSnapshot>): Promise<AllocationSnapshot> {
      const held = heldRead.armed;
      heldRead.armed = false;
      const snapshot = await real.readAllocationSnapshot(...args);
      if (held) {
        heldRead.read?.();
        await heldRead.release;
      }
      return snapshot;
    },
  };
});

/**
 * Requests that arrive together on one instance read the same capacity view. Each takes a slot of
 * its own (slots-in-flight.ts) instead of all trying the view's lowest free slot and all but one
 * losing the race at the database. Here every acquisition's append is held until all of them
 * have decided, so every decision is made before any slot is committed.
 */
const REQUESTS = 6;
let api: ApiHarness;

beforeAll(async () => {
  // Views read for each request: this is the read path's rule (a kept view has this instance's
  // commits in it already, and is tested in kept-capacity-view*.test.ts).
  api = await startApi({}, { localHost: { slots: 8 }, keepCapacityViews: false });
});
afterAll(async () => {
  await api?.close();
});

/** Holds the first `count` appends that acquire a lease until all of them have arrived. */
function holdAcquisitions(store: EventStore, count: number) {
  const appendMany = store.appendMany.bind(store);
  let arrived = 0;
  let open!: () => void;
  const allArrived = new Promise<void>((resolve) => (open = resolve));
  const conflicts: string[] = [];
  store.appendMany = async (appends, metadata, options) => {
    const acquires = appends.some((a) => a.events.some((e) => e.type === "LeaseAcquired"));
    if (acquires && arrived < count) {
      if (++arrived === count) open();
      await allArrived;
    }
    return appendMany(appends, metadata, options).catch((error: unknown) => {
      // Only the acquisitions' refusals: other steps (the resource's, another lease's) are not this test's.
      if (acquires) conflicts.push(`${String((error as { code?: unknown }).code)}: ${(error as Error).message}`);
      throw error;
    });
  };
  return { conflicts, restore: () => (store.appendMany = appendMany) };
}

describe("concurrent requests on one instance", () => {
  it("take distinct free slots, with no lost race and no capacity exceeded", async () => {
    // The local host's resource, built and active before the burst.
    const warm = await api.call("POST", "/v1/leases?wait=20", { resourceType: "host" });
    expect(warm.body.status).toBe("active");
    const resourceId = warm.body.resourceId as string;

    const held = holdAcquisitions(api.drydock.store, REQUESTS);
    const answers = await Promise.all(Array.from({ length: REQUESTS }, () => api.call("POST", "/v1/leases?wait=20", { resourceType: "host" }))).finally(held.restore);
    for (const a of answers) expect(a.body, a.text).toMatchObject({ status: "active", resourceId });
    expect(held.conflicts).toEqual([]);

    const slots: number[] = [];
    for (const a of [warm, ...answers]) {
      const events = await api.drydock.store.readStream(`lease-${a.body.id}`);
      const acquired = events.filter((e) => e.type === "LeaseAcquired");
      expect(acquired, a.body.id).toHaveLength(1);
      slots.push((acquired[0]!.data as { slot: number }).slot);
    }
    expect(new Set(slots).size).toBe(REQUESTS + 1);
    expect(Math.max(...slots)).toBeLessThan(8);
    for (const a of [warm, ...answers]) expect((await api.call("POST", `/v1/leases/${a.body.id}/release`)).status).toBe(200);
  });

  it("do not take a slot another committed after their view was read", async () => {
    const conflictsBefore = await conflictCount();
    // B's view is read, and answered only after A, arriving later, has decided, taken the
    // lowest free slot and committed: B's view still shows that slot free.
    let read!: () => void;
    const bRead = new Promise<void>((resolve) => (read = resolve));
    let release!: () => void;
    Object.assign(heldRead, { armed: true, read, release: new Promise<void>((resolve) => (release = resolve)) });
    const b = api.call("POST", "/v1/leases?wait=20", { resourceType: "host" });
    await bRead;
    const a = await api.call("POST", "/v1/leases?wait=20", { resourceType: "host" });
    expect(a.body.status).toBe("active");
    release();
    const answer = await b;
    expect(answer.body.status).toBe("active");
    const slotOf = async (id: string) => ((await api.drydock.store.readStream(`lease-${id}`)).find((e) => e.type === "LeaseAcquired")!.data as { slot: number }).slot;
    expect(await slotOf(answer.body.id)).not.toBe(await slotOf(a.body.id));
    // B went to another slot at its first decision: no append refused for a taken slot.
    expect(await conflictCount()).toBe(conflictsBefore);
    for (const id of [a.body.id, answer.body.id]) expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
  });
});

async function conflictCount(): Promise<number> {
  return (await api.drydock.metrics.appendConflicts.get()).values.reduce((n, v) => n + v.value, 0);
}


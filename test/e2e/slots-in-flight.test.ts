import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventStore } from "../../src/store/event-store";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Requests that arrive together on one instance read the same capacity view. Each takes a slot of
 * its own (slots-in-flight.ts) instead of all trying the view's lowest free slot and all but one
 * losing the race at the database. Here every acquisition's append is held until all of them
 * have decided, so every decision is made before any slot is committed.
 */
const REQUESTS = 6;
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({}, { localHost: { slots: 8 } });
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
});

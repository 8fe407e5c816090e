import { afterAll, beforeAll, expect, it } from "vitest";
import { sql } from "kysely";
import type { EventStore } from "../../src/store/event-store";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { memoryPoolBlueprint } from "../support/test-blueprints";

/**
 * After a lease's wait is stored, its allocator looks at the capacity once more (anything freed
 * while it decided woke the lease, and its wait overwrote that wake-up). The wait gave up the
 * lease's claim, so another worker, woken by a release meanwhile, may take the lease on and
 * acquire it before that look. The look must then leave the lease to that worker: deciding
 * again for an acquired lease is an illegal append, which the store refuses and the worker
 * reports as a failed step. The worker is off: the test runs each step, and serves the lease
 * from a second run at the worst moment, just after the first run's wait is stored.
 */
let api: ApiHarness;
const errors: unknown[] = [];

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false, onWorkerError: (e) => errors.push(e) });
  const created = await api.call("POST", "/v1/blueprints", { name: "two-slots", kind: "memory-pool", config: { slots: 2 }, resourceLimit: 1 });
  expect(created.status, created.text).toBe(201);
});

afterAll(async () => {
  await api?.close();
});

const ask = async () => (await api.call("POST", "/v1/leases?wait=1", { resourceType: "sandbox" })).body as { id: string; status: string };
const statusOf = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body.status as string;
const release = async (id: string) => expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);

it("a lease another worker acquired between its wait and the look again is left to that worker", async () => {
  const holders = [(await ask()).id, (await ask()).id];
  for (const id of holders) await api.runDueWorkUntil(id, "active");
  const lease = (await ask()).id;
  expect(await statusOf(lease)).toBe("pending");

  const store = api.drydock.store as EventStore;
  const append = store.append.bind(store);
  let raced = false;
  store.append = async (streamId, version, events, metadata, options) => {
    const stored = await append(streamId, version, events, metadata, options);
    if (!raced && streamId === `lease-${lease}` && events.some((e) => e.type === "LeaseWaiting")) {
      raced = true;
      // Both slots free up; their wake-up makes the lease due, and a second run serves it.
      for (const id of holders) await release(id);
      await api.drydock.notifier.flush();
      expect(await api.drydock.worker.runNow(`lease-${lease}`)).toBe(true);
      expect(await statusOf(lease)).not.toBe("pending");
    }
    return stored;
  };
  try {
    // The first run: both slots are taken, so it waits; then it looks again.
    await sql`UPDATE work_items SET run_at = now() - interval '1 second' WHERE stream_id = ${`lease-${lease}`}`.execute(api.drydock.database.db);
    expect(await api.drydock.worker.runNow(`lease-${lease}`)).toBe(true);
  } finally {
    store.append = append;
  }
  expect(raced).toBe(true);
  expect(errors).toEqual([]);

  const events = (await api.call("GET", `/v1/leases/${lease}/events`)).body.items as { type: string }[];
  expect(events.filter((e) => e.type === "LeaseAcquired")).toHaveLength(1);
  await api.runDueWorkUntil(lease, "active");
  await release(lease);
  await api.runDueWork();
  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { ManualClock } from "../../src/domain/clock";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * A freed slot wakes the waiting lease it is for at once, not at the end of its backoff (which
 * grows to a minute): every freed slot wakes a lease of its own, whatever order the wake-ups run
 * in, and a wake-up that never ran is made up by the next lease that queues behind the sleeper.
 *
 * The worker is off and the service runs on a clock the test moves: the due work runs by hand at a
 * time before any waiter's retry, so a waiter that becomes active there was woken, never retried.
 */
const START = new Date("2026-06-01T09:00:00.000Z");
const clock = new ManualClock(START);
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false, clock });
  for (const [name, slots] of [["two-slots", 2], ["one-slot", 1]] as const) {
    const created = await api.call("POST", "/v1/blueprints", { name, kind: "memory-pool", config: { slots, labels: [name] }, resourceLimit: 1 });
    expect(created.status, created.text).toBe(201);
  }
});

afterAll(async () => {
  await api?.close();
});

const ask = async (label: string) => {
  const res = await api.call("POST", "/v1/leases?wait=1", { resourceType: "sandbox", attributes: { labels: [label] } });
  expect([200, 201, 202], res.text).toContain(res.status);
  return res.body as { id: string; status: string; waitReason?: string };
};
const lease = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body;
const release = async (id: string) => expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
/** When the lease's last wait said it would retry by itself. */
const retryAt = async (id: string) => {
  const events = (await api.call("GET", `/v1/leases/${id}/events`)).body.items as { type: string; data: { retryAt?: string } }[];
  const waits = events.filter((e) => e.type === "LeaseWaiting");
  expect(waits.length, `lease ${id} waited`).toBeGreaterThan(0);
  return Date.parse(waits.at(-1)!.data.retryAt!);
};
async function activeLease(label: string) {
  const asked = await ask(label);
  await api.runDueWorkUntil(asked.id, "active");
  return asked.id;
}

describe("waking waiting leases", () => {
  it("two slots freed together wake two waiters, even when the later release's wake-up runs first", async () => {
    const holders = [await activeLease("two-slots"), await activeLease("two-slots")];
    const waiters = [(await ask("two-slots")).id, (await ask("two-slots")).id];
    for (const id of waiters) expect((await lease(id)).status).toBe("pending");

    // Two allocator processes whose clocks are 10 ms apart release one slot each: the release
    // stamped later commits (and wakes) first.
    clock.set(new Date(START.getTime() + 20));
    await release(holders[0]!);
    clock.set(new Date(START.getTime() + 10));
    await release(holders[1]!);
    clock.set(new Date(START.getTime() + 20));

    const retries = await Promise.all(waiters.map(retryAt));
    expect(Math.min(...retries)).toBeGreaterThan(clock.now().getTime());
    await api.runDueWork();
    for (const id of waiters) expect((await lease(id)).status, `waiter ${id}`).toBe("active");
    for (const id of waiters) await release(id);
    await api.runDueWork();
  });

  it("a sleeper whose wake-up was lost is woken by the next lease that queues behind it", async () => {
    clock.set(new Date(START.getTime() + 60_000));
    const holder = await activeLease("one-slot");
    const sleeper = (await ask("one-slot")).id;
    await release(holder);
    await api.drydock.notifier.flush();
    // The release's wake-up never ran, as when the process that committed it died just after:
    // the sleeper's item is back at the time its wait set.
    await sql`UPDATE work_items w SET run_at = LEAST(l.retry_at, l.expires_at) FROM leases l
               WHERE w.stream_id = 'lease-' || l.lease_id AND l.lease_id = ${sleeper}`.execute(api.drydock.database.db);
    await api.runDueWork();
    expect((await lease(sleeper)).status).toBe("pending");
    expect(await retryAt(sleeper)).toBeGreaterThan(clock.now().getTime());

    // A newcomer finds the slot free and the sleeper ahead of it: it waits, and wakes the sleeper.
    const newcomer = await ask("one-slot");
    expect(newcomer.status).toBe("pending");
    expect(newcomer.waitReason).toBe(`queued behind 1 lease ahead of it (higher priority, or asked earlier) for the capacity free now: ${sleeper}`);
    await api.runDueWork();
    expect((await lease(sleeper)).status).toBe("active");
    expect((await lease(newcomer.id)).status).toBe("pending");

    await release(sleeper);
    await api.runDueWork();
    expect((await lease(newcomer.id)).status).toBe("active");
    await release(newcomer.id);
    await api.runDueWork();
    const verified = await verifyStoredLog(api.drydock.store, { now: clock.now(), graceMs: 60_000 });
    expect(verified.violations).toEqual([]);
  });
});

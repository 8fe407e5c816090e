import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * The fair queue over HTTP: a freed slot goes to the lease that waited longest (or has the higher
 * priority), never to a newcomer; only an admin may raise a priority. The background worker is off,
 * so which lease is served is decided by the queue alone, not by who happens to run first: a
 * request with `?wait` still runs its own first steps (the fast path), and the test runs the due
 * work by hand (`runDue`, as a worker would).
 */
let api: ApiHarness;
let blueprintId: string;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false });
  const created = await api.call("POST", "/v1/blueprints", { name: "one-slot", kind: "memory-pool", config: { slots: 1, labels: ["queue"] }, resourceLimit: 1 });
  expect(created.status).toBe(201);
  blueprintId = created.body.id;
});

afterAll(async () => {
  await api?.close();
});

const ask = async (body: Record<string, unknown> = {}, wait = 2) => {
  const res = await api.call("POST", `/v1/leases?wait=${wait}`, { resourceType: "sandbox", attributes: { labels: ["queue"] }, ...body });
  expect([200, 201, 202], res.text).toContain(res.status);
  return res.body;
};
const lease = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body;
const release = async (id: string) => expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
/** A lease that is active once the due work has run (the first one builds the pool's resource). */
const active = async () => {
  const asked = await ask({}, 1);
  return becomes(asked.id, "active");
};
const becomes = (id: string, status: string) => api.runDueWorkUntil(id, status);
/** Runs every due step, as the background worker would, until nothing is due. */
const work = () => api.runDueWork();

describe("the lease queue", () => {
  it("a freed slot goes to the lease that waited, not to a newcomer that asks after the release", async () => {
    const holder = await active();
    const waiter = await ask({}, 1);
    expect(waiter.status).toBe("pending");

    await release(holder.id);
    // The newcomer asks before any worker has served the waiter: the slot is free, and not its.
    const newcomer = await ask({}, 1);
    expect(newcomer.status).toBe("pending");
    expect(newcomer.waitReason).toBe(`queued behind 1 lease ahead of it (higher priority, or asked earlier) for the capacity free now: ${waiter.id}`);

    await becomes(waiter.id, "active");
    expect((await lease(newcomer.id)).status).toBe("pending");
    // The explanation names the queue as what kept the newcomer waiting.
    const explained = await api.call("GET", `/v1/leases/${newcomer.id}/explain`);
    expect(explained.text).toContain("queued behind 1 lease");
    expect(explained.body.waits.map((w: { cause: string }) => w.cause)).toContain("behind-leases");
    expect(explained.body.summary).toContain("in the fair queue, behind leases with a higher priority or asked earlier");

    await release(waiter.id);
    await becomes(newcomer.id, "active");
    await release(newcomer.id);
    await work();
  });

  it("a higher priority is served first, whenever it asked; only an admin may raise one, anyone may lower theirs", async () => {
    const holder = await active();
    const early = await ask({}, 1);
    const low = await ask({ priority: -10 }, 1);
    const urgent = await ask({ priority: 50 }, 1);
    expect((await lease(urgent.id)).priority).toBe(50);
    expect((await lease(early.id)).priority).toBe(0);

    await release(holder.id);
    await becomes(urgent.id, "active");
    expect((await lease(early.id)).status).toBe("pending");
    await release(urgent.id);
    await becomes(early.id, "active");
    expect((await lease(low.id)).status).toBe("pending");
    await release(early.id);
    await becomes(low.id, "active");
    await release(low.id);
    await work();

    // A client may step back, not jump ahead; the refusal names the field and stores nothing.
    const client = await api.client("team-a", { blueprintIds: [blueprintId] });
    const before = await api.eventCount();
    const refused = await client.call("POST", "/v1/leases", { resourceType: "sandbox", attributes: { labels: ["queue"] }, priority: 1 });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/^priority: only an admin may ask for a priority above 0/);
    const invalid = await client.call("POST", "/v1/leases", { resourceType: "sandbox", priority: 1.5 });
    expect(invalid.status).toBe(400);
    expect(invalid.text).toContain("priority");
    expect(await api.eventCount()).toBe(before);
    const lowered = await client.call("POST", "/v1/leases", { resourceType: "sandbox", attributes: { labels: ["queue"] }, priority: -5 });
    expect(lowered.status).toBe(202);
    expect(lowered.body.priority).toBe(-5);
    await client.call("POST", `/v1/leases/${lowered.body.id}/release`);
    await work();
  });

  it("a flood from one client over its quota cannot starve another client: its leases over quota wait and take nothing", async () => {
    const pool = await api.call("POST", "/v1/blueprints", { name: "three-slots", kind: "memory-pool", config: { slots: 3, labels: ["shared"] }, resourceLimit: 1 });
    expect(pool.status).toBe(201);
    // team-a's token carries a quota of 2 live leases; team-b's none.
    await api.client("team-a", { blueprintIds: [pool.body.id] });
    const teamB = await api.client("team-b", { blueprintIds: [pool.body.id] });
    const badQuota = await api.call("POST", "/v1/tokens", { owner: "team-a", role: "client", leaseQuota: { maxLiveLeases: -1 } });
    expect(badQuota.status).toBe(400);
    expect(badQuota.text).toContain("leaseQuota.maxLiveLeases");
    const issued = await api.call("POST", "/v1/tokens", { owner: "team-a", role: "client", leaseQuota: { maxLiveLeases: 2 } });
    expect(issued.status).toBe(201);
    expect(issued.body.leaseQuota).toEqual({ maxLiveLeases: 2 });
    const teamA = api.as(issued.body.token);
    const shared = { resourceType: "sandbox", attributes: { labels: ["shared"] } };

    const flood: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await teamA.call("POST", "/v1/leases", shared);
      expect(res.status).toBe(202);
      expect(res.body.ownerResourceId).toBeNull();
      flood.push(res.body.id as string);
    }
    const states = async () => Promise.all(flood.map(lease));
    // Run the due work, as a worker would, until each lease has decided once more after the first
    // two took their slots (one decided early may say it queues behind them until its retry).
    await waitUntil("team-a's leases past its quota to wait on it", async () => {
      await work();
      const now = await states();
      return now.filter((l) => l.status === "pending" && l.waitReason === "quota: team-a holds 2 live leases, its quota is 2").length === 6 ? true : undefined;
    }, 20_000, { intervalMs: 250, seen: async () => (await states()).map((l) => `${l.status} ${l.waitReason ?? ""}`) });
    expect((await states()).filter((l) => l.status === "active")).toHaveLength(2);

    // Asked not to wait, a request over the quota is refused, and nothing is stored.
    const before = await api.eventCount();
    const refused = await teamA.call("POST", "/v1/leases", { ...shared, waitIfOverQuota: false });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("quota_exceeded");
    expect(refused.body.error.message).toBe("quota: team-a holds 2 live leases, its quota is 2; this request asked not to wait (waitIfOverQuota: false), so nothing was stored");
    expect(await api.eventCount()).toBe(before);
    // Its explanation names the quota as what it waits on: once that wait is long enough to be
    // named (50 ms), since a lease that decided before the first two took their slots queued
    // behind them first, and may have turned to the quota only just now.
    const overQuota = (await states()).find((l) => l.status === "pending")!;
    const onQuota = await waitUntil("the quota named in its explanation", async () => {
      const explained = await api.call("GET", `/v1/leases/${overQuota.id}/explain`);
      return String(explained.body.summary).includes("on its owner's lease quota") ? explained : undefined;
    }, 5_000);
    expect(onQuota.body.waits.map((w: { cause: string }) => w.cause)).toContain("quota");
    expect(onQuota.body.summary).toContain("on its owner's lease quota (quota: team-a holds 2 live leases, its quota is 2)");

    // team-b asked after the whole flood, and gets the third slot at once: the six ahead of it take nothing.
    const b = await teamB.call("POST", "/v1/leases?wait=1", shared);
    expect([201, 202]).toContain(b.status);
    await becomes(b.body.id, "active");

    // One of team-a's ends: the next of its own waiting leases goes, not a fourth.
    const [first] = (await states()).filter((l) => l.status === "active");
    expect((await teamA.call("POST", `/v1/leases/${first.id}/release`)).status).toBe(200);
    await waitUntil("team-a's next lease to take the freed place", async () => {
      await work();
      return (await states()).filter((l) => l.status === "active").length === 2 ? true : undefined;
    }, 10_000, { intervalMs: 50 });
    expect(((await states()).filter((l) => l.status === "pending"))).toHaveLength(5);

    for (const id of flood) await teamA.call("POST", `/v1/leases/${id}/release`);
    await teamB.call("POST", `/v1/leases/${b.body.id}/release`);
    await work();
  });

  it("the log verifies after the queue's runs", async () => {
    await work();
    const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
    expect(report.violations).toEqual([]);
  });
});

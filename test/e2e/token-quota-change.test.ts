import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Changing a client's quota without issuing a new token (PATCH /v1/tokens/{id}): the leases the
 * token asks for from then on carry the new quota, and so do its leases still waiting, which look
 * again at once. The background worker is off: the test runs the due work by hand, as a worker
 * would, so "at once" means "due now", not "after its backoff".
 */
let api: ApiHarness;
let poolId: string;
const sandbox = { resourceType: "sandbox", attributes: { labels: ["quota-change"] } };

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()], worker: false });
  const pool = await api.call("POST", "/v1/blueprints", { name: "six-slots", kind: "memory-pool", config: { slots: 6, labels: ["quota-change"] }, resourceLimit: 1 });
  expect(pool.status).toBe(201);
  poolId = pool.body.id;
});

afterAll(async () => {
  await api?.close();
});

const lease = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).body;
const work = () => api.runDueWork();
async function statuses(ids: string[]) {
  return Promise.all(ids.map(async (id) => (await lease(id)).status as string));
}
const count = (list: string[], status: string) => list.filter((s) => s === status).length;

describe("changing a token's quota", () => {
  it("a raise lets the token's waiting leases through at once; a second token of the owner keeps its own", async () => {
    await api.client("team-q", { blueprintIds: [poolId] });
    const issued = await api.call("POST", "/v1/tokens", { owner: "team-q", role: "client", leaseQuota: { maxLiveLeases: 1 } });
    expect(issued.status).toBe(201);
    const tokenId = issued.body.id as string;
    const teamQ = api.as(issued.body.token);
    // Another token of the same owner, with a quota of its own: its waiting lease is not this token's.
    const other = await api.call("POST", "/v1/tokens", { owner: "team-q", role: "client", leaseQuota: { maxLiveLeases: 1 } });
    const otherQ = api.as(other.body.token);

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await teamQ.call("POST", "/v1/leases", sandbox)).body.id);
    await waitUntil("one active, two waiting on the quota", async () => {
      await work();
      const now = await Promise.all(ids.map(lease));
      return count(now.map((l) => l.status), "active") === 1 && now.filter((l) => l.waitReason?.startsWith("quota: team-q holds 1 live lease")).length === 2 ? true : undefined;
    }, 15_000, { intervalMs: 100, seen: async () => (await Promise.all(ids.map(lease))).map((l) => `${l.status} ${l.waitReason ?? ""}`) });
    const otherLease = (await otherQ.call("POST", "/v1/leases", sandbox)).body.id as string;
    await work();
    expect((await lease(otherLease)).status).toBe("pending");

    // Raised to 3: this token's two waiting leases carry it, and are due now, not at their backoff.
    const waitingBefore = (await Promise.all(ids.map(lease))).filter((l) => l.status === "pending").map((l) => l.id as string);
    const changed = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: { maxLiveLeases: 3 } });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body.leaseQuota).toEqual({ maxLiveLeases: 3 });
    expect(waitingBefore).toHaveLength(2);
    expect([...changed.body.leasesChanged].sort()).toEqual([...waitingBefore].sort());
    for (const id of changed.body.leasesChanged as string[]) {
      const events = (await api.call("GET", `/v1/leases/${id}/events`)).body.items as { type: string; data: { quota: unknown; reason: string } }[];
      expect(events.at(-1)).toMatchObject({ type: "LeaseQuotaChanged", data: { quota: { maxLiveLeases: 3 }, reason: `token ${tokenId}: maxLiveLeases 3` } });
      expect((await lease(id)).retryAt).toBeNull();
    }
    // One pass of the due work, no waiting for a backoff: all three are active.
    await work();
    expect(await statuses(ids)).toEqual(["active", "active", "active"]);
    // The other token's lease still waits on its own quota of 1.
    expect(await lease(otherLease)).toMatchObject({ status: "pending", waitReason: expect.stringMatching(/^quota: team-q holds \d+ live leases?, its quota is 1$/) });

    // A new lease with this token carries the new quota: a fourth waits on 3.
    const fourth = (await teamQ.call("POST", "/v1/leases", sandbox)).body.id as string;
    await work();
    expect((await lease(fourth)).waitReason).toBe("quota: team-q holds 3 live leases, its quota is 3");

    // Lowered to none: the fourth goes too; live leases are never taken back by a quota.
    const none = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: null });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ leaseQuota: null, leasesChanged: [fourth] });
    await work();
    expect((await lease(fourth)).status).toBe("active");

    for (const id of [...ids, fourth, otherLease]) await api.call("POST", `/v1/leases/${id}/release`);
    await work();
  });

  it("refuses bad changes naming the field, a client's with 403, a revoked token's with 409, and appends nothing", async () => {
    const issued = await api.call("POST", "/v1/tokens", { owner: "team-r", role: "client", leaseQuota: { maxLiveLeases: 1 } });
    const tokenId = issued.body.id as string;
    const before = await api.eventCount();
    const negative = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: { maxLiveLeases: -1 } });
    expect(negative.status).toBe(400);
    expect(negative.text).toContain("leaseQuota.maxLiveLeases");
    const empty = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: {} });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain("leaseQuota");
    const missing = await api.call("PATCH", `/v1/tokens/${tokenId}`, {});
    expect(missing.status).toBe(400);
    expect(missing.text).toContain("leaseQuota");
    const unknown = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: null, role: "admin" });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain("role");
    const byClient = await api.as(issued.body.token).call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: null });
    expect(byClient.status).toBe(403);
    expect((await api.call("PATCH", "/v1/tokens/tk_nosuchtoken0000", { leaseQuota: null })).status).toBe(404);
    expect(await api.eventCount()).toBe(before);

    expect((await api.call("DELETE", `/v1/tokens/${tokenId}`, { reason: "rotated" })).status).toBe(200);
    const afterRevoke = await api.eventCount();
    const revoked = await api.call("PATCH", `/v1/tokens/${tokenId}`, { leaseQuota: { maxLiveLeases: 5 } });
    expect(revoked.status).toBe(409);
    expect(await api.eventCount()).toBe(afterRevoke);
  });

  it("the log verifies", async () => {
    await work();
    const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
    expect(report.violations).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { decideAllocation, type AllocationView, type ResourceCandidate } from "../../src/allocator/decide-allocation";
import { decidePool, type PoolResource, type PoolView } from "../../src/allocator/decide-pool";
import { yes } from "../../src/blueprints/blueprint";
import { hasPoolPolicy, NO_POOL_POLICY, recycleReason, type PoolPolicy } from "../../src/domain/pool-policy";
import { blueprintWork } from "../../projections/work-schedule";

/** The pool's pure decisions (src/domain/pool-policy.ts, src/allocator/decide-pool.ts): time comes in as data. */
const NOW = new Date("2026-07-01T09:00:00.000Z");
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);

const resource = (id: string, over: Partial<PoolResource> = {}): PoolResource => ({
  resourceId: id,
  status: "active",
  leaseSlots: 1,
  liveLeases: 0,
  leasesServed: 0,
  activatedAt: ago(60),
  idleSince: ago(60),
  held: false,
  suspect: false,
  ...over,
});

const pool = (policy: Partial<PoolPolicy>, resources: PoolResource[], over: Partial<PoolView> = {}): PoolView => ({
  policy: { ...NO_POOL_POLICY, ...policy },
  enabled: true,
  resourceLimit: null,
  usedLimitSlots: resources.length,
  resources,
  now: NOW,
  ...over,
});

describe("recycleReason", () => {
  it("names the policy a resource reached, and nothing before", () => {
    const policy = { maxLeasesPerResource: 3, maxAgeSeconds: 3600 };
    expect(recycleReason(policy, { leasesServed: 2, activatedAt: ago(3599) }, NOW)).toBeNull();
    expect(recycleReason(policy, { leasesServed: 3, activatedAt: ago(10) }, NOW)).toBe("recycled: maxLeasesPerResource 3 reached");
    expect(recycleReason(policy, { leasesServed: 0, activatedAt: ago(3600) }, NOW)).toBe(`recycled: maxAgeSeconds 3600 reached (active since ${ago(3600).toISOString()})`);
    // A pending resource has no age yet; no policy, no recycling.
    expect(recycleReason(policy, { leasesServed: 0, activatedAt: null }, NOW)).toBeNull();
    expect(recycleReason(NO_POOL_POLICY, { leasesServed: 99, activatedAt: ago(99_999) }, NOW)).toBeNull();
  });

  it("only a blueprint with a policy has a pool work item", () => {
    const row = { min_ready: null, max_leases_per_resource: null, max_age_seconds: null, idle_destroy_seconds: null };
    expect(blueprintWork(row, NOW)).toBeNull();
    expect(blueprintWork({ ...row, min_ready: 0 }, NOW)).toBeNull();
    expect(blueprintWork({ ...row, min_ready: 2 }, NOW)).toEqual({ kind: "pool", runAt: NOW });
    expect(blueprintWork({ ...row, idle_destroy_seconds: 60 }, NOW)?.kind).toBe("pool");
    expect(hasPoolPolicy({ maxAgeSeconds: 10 })).toBe(true);
  });
});

describe("decidePool", () => {
  it("builds what the warm pool misses, counting booting ones and not busy ones", () => {
    const d = decidePool(pool({ minReady: 3 }, [resource("a"), resource("b", { status: "pending", activatedAt: null, idleSince: null }), resource("c", { liveLeases: 1, idleSince: null })]));
    expect(d).toMatchObject({ build: 1, ready: 2, release: [], buildReason: "warm pool: minReady 3 (2 ready)" });
  });

  it("respects the blueprint's limit and builds nothing when disabled", () => {
    expect(decidePool(pool({ minReady: 5 }, [resource("a")], { resourceLimit: 3, usedLimitSlots: 2 })).build).toBe(1);
    expect(decidePool(pool({ minReady: 5 }, [resource("a")], { resourceLimit: 3, usedLimitSlots: 3 })).build).toBe(0);
    expect(decidePool(pool({ minReady: 5 }, [], { enabled: false })).build).toBe(0);
  });

  it("waits after a failed build before building again, and says when", () => {
    const until = new Date(NOW.getTime() + 30_000);
    const blocked = decidePool(pool({ minReady: 2 }, [], { buildBlockedUntil: until }));
    expect(blocked).toMatchObject({ build: 0, nextCheckAt: until });
    expect(decidePool(pool({ minReady: 2 }, [], { buildBlockedUntil: ago(1) })).build).toBe(2);
  });

  it("does not count held, suspect or recycled resources as ready", () => {
    const d = decidePool(
      pool({ minReady: 3, maxLeasesPerResource: 2 }, [resource("a", { held: true }), resource("b", { suspect: true }), resource("c", { leasesServed: 2, liveLeases: 1, leaseSlots: 2, idleSince: null })]),
    );
    expect(d.ready).toBe(0);
    expect(d.build).toBe(3);
    // c still has a lease: it goes when that ends (an event), not now.
    expect(d.release).toEqual([]);
  });

  it("releases a recycled resource once its last lease has ended, with the policy as the reason", () => {
    const d = decidePool(pool({ maxLeasesPerResource: 2, maxAgeSeconds: 600 }, [resource("a", { leasesServed: 2 }), resource("b", { activatedAt: ago(601) }), resource("c", { activatedAt: ago(601), held: true })]));
    expect(d.release).toEqual([
      { resourceId: "a", reason: "recycled: maxLeasesPerResource 2 reached" },
      { resourceId: "b", reason: `recycled: maxAgeSeconds 600 reached (active since ${ago(601).toISOString()})` },
    ]);
  });

  it("releases idle resources beyond minReady, the longest idle first, and never below it", () => {
    const resources = [resource("a", { idleSince: ago(700) }), resource("b", { idleSince: ago(900) }), resource("c", { idleSince: ago(100) })];
    const d = decidePool(pool({ minReady: 1, idleDestroySeconds: 600 }, resources));
    expect(d.release).toEqual([
      { resourceId: "b", reason: "idle for 900 s (idleDestroySeconds 600)" },
      { resourceId: "a", reason: "idle for 700 s (idleDestroySeconds 600)" },
    ]);
    expect(d.ready).toBe(1);
    expect(d.build).toBe(0);
    // With minReady 3, none goes; with none, c is due in 500 s.
    expect(decidePool(pool({ minReady: 3, idleDestroySeconds: 600 }, resources)).release).toEqual([]);
    const none = decidePool(pool({ idleDestroySeconds: 600 }, resources));
    expect(none.release.map((r) => r.resourceId)).toEqual(["b", "a"]);
    expect(none.nextCheckAt).toEqual(new Date(ago(100).getTime() + 600_000));
  });

  it("says when its decision changes with no event: an age deadline", () => {
    const d = decidePool(pool({ maxAgeSeconds: 3600 }, [resource("a", { activatedAt: ago(600), liveLeases: 1, idleSince: null })]));
    expect(d.release).toEqual([]);
    expect(d.nextCheckAt).toEqual(new Date(ago(600).getTime() + 3_600_000));
  });
});

describe("the allocator and recycling", () => {
  it("skips a recycled resource with the policy's reason and names it in the wait", () => {
    const candidate: ResourceCandidate = {
      resource: { resourceId: "rs_1", blueprintId: "bp", resourceType: "host", status: "active", attributes: {}, leaseSlots: 2, liveLeases: 1, suspectReason: null, endReason: null },
      acquire: yes,
      supplemental: false,
      usedSlots: [0],
      idleSince: null,
      recycled: "recycled: maxLeasesPerResource 2 reached",
    };
    const view: AllocationView = {
      lease: { leaseId: "ls_1", resourceType: "host", attributes: {}, owner: "a", ownerResourceId: null, authorizingObject: null, blueprintIds: null },
      blueprints: [{ blueprint: { blueprintId: "bp", name: "hosts", kind: "k", resourceType: "host", config: {}, resourceLimit: 1, enabled: true, liveResources: 1, failingTargets: [] }, ever: yes, plan: { attributes: {}, leaseSlots: 2, locks: [], heldLeases: [] }, usedLimitSlots: [0] }],
      resources: [candidate],
      now: NOW,
      reclaimIdleMs: 60_000,
    };
    const outcome = decideAllocation(view);
    expect(outcome.decision).toMatchObject({ kind: "wait" });
    expect(outcome.candidates).toContainEqual({ kind: "resource", id: "rs_1", blueprintId: "bp", outcome: "skipped", reason: "recycled: maxLeasesPerResource 2 reached: takes no new lease, released once its last lease ends" });
    expect((outcome.decision as { reason: string }).reason).toContain("rs_1 recycled: maxLeasesPerResource 2 reached");
    // Not recycled: the free slot is taken.
    expect(decideAllocation({ ...view, resources: [{ ...candidate, recycled: null }] }).decision).toMatchObject({ kind: "acquire", resourceId: "rs_1", slot: 1 });
  });
});

import { describe, expect, it } from "vitest";
import type { AllocationView } from "../../src/allocator/decide-allocation";
import { quotaLocks } from "../../src/allocator/quota-locks";

/** A view that carries only what quotaLocks reads: the lease, its quota and the numbers taken. */
function view(quota: AllocationView["quota"], slotOffset = 0): AllocationView {
  return {
    lease: { leaseId: "ls_1", resourceType: "host", attributes: {}, owner: "team-a", ownerResourceId: null, authorizingObject: null, blueprintIds: null },
    blueprints: [],
    resources: [],
    now: new Date(0),
    reclaimIdleMs: 0,
    ...(quota ? { quota } : {}),
    slotOffset,
  };
}

describe("quotaLocks", () => {
  it("takes the owner's lowest free number below each limit that applies", () => {
    const v = view({ quota: { maxLiveLeases: 3, maxLiveLeasesOfType: 2 }, live: { total: 2, ofType: 1 }, taken: { all: [0, 2], ofType: [1] } });
    expect(quotaLocks(v)).toEqual(["quota:team-a:all:1", "quota:team-a:type:host:0"]);
  });

  it("takes only the limits the quota has, and nothing without a quota or numbers read", () => {
    expect(quotaLocks(view({ quota: { maxLiveLeasesOfType: 4 }, live: { total: 9, ofType: 0 }, taken: { all: [5], ofType: [] } }))).toEqual(["quota:team-a:type:host:0"]);
    expect(quotaLocks(view(undefined))).toEqual([]);
    // A simulated view reads no numbers: it takes none.
    expect(quotaLocks(view({ quota: { maxLiveLeases: 1 }, live: { total: 0, ofType: 0 } }))).toEqual([]);
  });

  it("takes the free number the offset picks among the free ones, never one past the limit", () => {
    const taken = { quota: { maxLiveLeases: 4 }, live: { total: 1, ofType: 1 }, taken: { all: [0], ofType: [] } };
    // Free below 4: 1, 2 and 3; offsets 6, 7 and 8 pick each once.
    expect([6, 7, 8].map((offset) => quotaLocks(view(taken, offset)))).toEqual([["quota:team-a:all:1"], ["quota:team-a:all:2"], ["quota:team-a:all:3"]]);
  });

  it("is a lost race when every number below the limit is taken (a stale view): the lease decides again", () => {
    const v = view({ quota: { maxLiveLeases: 2 }, live: { total: 1, ofType: 1 }, taken: { all: [0, 1], ofType: [] } });
    expect(() => quotaLocks(v)).toThrow(expect.objectContaining({ code: "capacity_conflict" }));
  });
});

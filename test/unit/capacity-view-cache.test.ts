import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../events/envelope";
import type { AllocationSnapshot } from "../../src/allocator/allocation-snapshot";
import { CapacityViewCache, type ViewAsker } from "../../src/allocator/capacity-view-cache";

const asker: ViewAsker = { resourceType: "host", owner: "ci", authorizingObject: "ci", tokenId: "tk_1", priority: 0 };

function snapshot(extra: Partial<AllocationSnapshot> = {}): AllocationSnapshot {
  return {
    blueprints: [{ blueprint_id: "bp_1" } as AllocationSnapshot["blueprints"][number]],
    undestroyed: [{ resource_id: "rs_1", blueprint_id: "bp_1" } as AllocationSnapshot["undestroyed"][number]],
    locks: [{ lock_key: "resource:rs_1:slot:0", owner_stream_id: "lease-ls_a" }],
    loads: new Map(),
    served: new Map(),
    ahead: [],
    approved: [],
    live: new Map(),
    readStartedAt: 0,
    ...extra,
  };
}

function event(streamId: string, type: string, data: unknown = {}): RecordedEvent {
  return { globalPosition: 1, transactionId: "1", eventId: "e", streamId, streamVersion: 1, type, version: 1, data, metadata: { actor: "test" }, recordedAt: new Date(0) };
}

const lockKeys = (s: AllocationSnapshot | undefined) => s?.locks.map((l) => l.lock_key).sort();

describe("CapacityViewCache", () => {
  it("gives the view kept for the same asker only, and not once it is older than five seconds", () => {
    let now = 0;
    const cache = new CapacityViewCache(() => now);
    cache.put(asker, snapshot());
    expect(lockKeys(cache.get(asker))).toEqual(["resource:rs_1:slot:0"]);
    expect(cache.get({ ...asker, owner: "other" })).toBeUndefined();
    expect(cache.get({ ...asker, tokenId: null })).toBeUndefined();
    expect(cache.get({ ...asker, priority: 1 })).toBeUndefined();
    now = 5_001;
    expect(cache.get(asker)).toBeUndefined();
  });

  it("never gives a view in which a lease waits ahead", () => {
    const cache = new CapacityViewCache(() => 0);
    cache.put(asker, snapshot({ ahead: [{ lease_id: "ls_w" } as AllocationSnapshot["ahead"][number]] }));
    expect(cache.get(asker)).toBeUndefined();
  });

  it("adds the locks this process's appends take in the view's scopes, and drops those a lease frees", () => {
    const cache = new CapacityViewCache(() => 0);
    cache.put(asker, snapshot());
    cache.committed([
      event("lease-ls_b", "LeaseAcquired", { locks: ["resource:rs_1:slot:1", "quota:ci:all:0", "resource:rs_other:slot:0"] }),
    ]);
    expect(lockKeys(cache.get(asker))).toEqual(["quota:ci:all:0", "resource:rs_1:slot:0", "resource:rs_1:slot:1"]);
    cache.committed([event("lease-ls_a", "LeaseReleased", { reason: "requested", detail: null })]);
    expect(lockKeys(cache.get(asker))).toEqual(["quota:ci:all:0", "resource:rs_1:slot:1"]);
  });

  it("hands out copies: a caller's change to a view does not change the one kept", () => {
    const cache = new CapacityViewCache(() => 0);
    cache.put(asker, snapshot());
    cache.get(asker)!.locks.push({ lock_key: "resource:rs_1:slot:9", owner_stream_id: "lease-x" });
    expect(lockKeys(cache.get(asker))).toEqual(["resource:rs_1:slot:0"]);
  });

  it("drops every view on a change to a resource, blueprint, authorization or token, and when a lease starts waiting", () => {
    for (const e of [
      event("resource-rs_1", "ResourceReleased"),
      event("blueprint-bp_1", "BlueprintUpdated"),
      event("authorization-au_1", "AuthorizationRevoked"),
      event("token-tk_1", "TokenRevoked"),
      event("lease-ls_c", "LeaseWaiting"),
    ]) {
      const cache = new CapacityViewCache(() => 0);
      cache.put(asker, snapshot());
      cache.committed([e]);
      expect(cache.get(asker), e.type).toBeUndefined();
    }
  });

  it("keeps the pool's part once per type, the newest read of it, and each asker's own part apart", () => {
    const cache = new CapacityViewCache(() => 0);
    const other: ViewAsker = { ...asker, owner: "nightly", authorizingObject: "nightly", tokenId: "tk_2" };
    cache.put(asker, snapshot({ approved: [{ client: "ci", blueprint_id: "bp_1" }], locks: [{ lock_key: "quota:ci:all:0", owner_stream_id: "lease-ls_a" }] }));
    cache.put(other, snapshot({ approved: [{ client: "nightly", blueprint_id: "bp_1" }], locks: [{ lock_key: "resource:rs_1:slot:1", owner_stream_id: "lease-ls_n" }] }));
    const mine = cache.get(asker)!;
    expect(mine.approved).toEqual([{ client: "ci", blueprint_id: "bp_1" }]);
    // The pool as the newest read had it, with this owner's quota numbers.
    expect(lockKeys(mine)).toEqual(["quota:ci:all:0", "resource:rs_1:slot:1"]);
    expect(lockKeys(cache.get(other))).toEqual(["resource:rs_1:slot:1"]);
  });
});

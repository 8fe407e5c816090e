import { describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../events/envelope";
import { WorkloadOfLog } from "../../src/simulate/workload-of-log";

/** The log folded into a window's workload: what a lease asked, waited and held; the pool when the window opened. */
const T0 = Date.parse("2026-01-01T00:00:00Z");
let position = 0;
const at = (ms: number, streamId: string, type: string, data: unknown): RecordedEvent => ({
  globalPosition: ++position,
  transactionId: String(position),
  eventId: `e${position}`,
  streamId,
  streamVersion: 1,
  type,
  version: 1,
  data,
  metadata: { actor: "test" },
  recordedAt: new Date(T0 + ms),
});
const requested = (ms: number, id: string, extra: Record<string, unknown> = {}) =>
  at(ms, `lease-${id}`, "LeaseRequested", { leaseId: id, resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "ci", ownerResourceId: null, ttlSeconds: null, expiresAt: null, ...extra });
const acquired = (ms: number, id: string, resourceId: string, slot = 0) => at(ms, `lease-${id}`, "LeaseAcquired", { resourceId, blueprintId: "bp1", slot, locks: [] });

describe("WorkloadOfLog", () => {
  const log = [
    at(0, "blueprint-bp1", "BlueprintCreated", { blueprintId: "bp1", name: "pool", kind: "memory-pool", resourceType: "sandbox", config: { slots: 1 }, resourceLimit: 1 }),
    // Before the window (from = 10 s): "old" holds r1 until 12 s; "early" waits from 5 s.
    requested(1000, "old"),
    at(1000, "resource-r1", "ResourceAllocated", { resourceId: "r1", blueprintId: "bp1", resourceType: "sandbox", attributes: {}, leaseSlots: 1, locks: [], forLeaseId: "old" }),
    acquired(1000, "old", "r1"),
    at(3000, "resource-r1", "ResourceActivated", { attributes: {} }),
    at(3100, "lease-old", "LeaseActivated", { workingDirectory: null }),
    requested(5000, "early", { priority: 5 }),
    at(8000, "blueprint-bp1", "BlueprintUpdated", { resourceLimit: 2 }),
    at(11_000, "blueprint-bp1", "BlueprintUpdated", { resourceLimit: 3 }),
    at(12_000, "lease-old", "LeaseReleased", { reason: "requested", detail: null }),
    acquired(12_000, "early", "r1"),
    at(12_200, "lease-early", "LeaseActivated", { workingDirectory: null }),
    requested(13_000, "gone"),
    at(14_000, "lease-gone", "LeaseReleased", { reason: "requested", detail: null }),
    at(15_000, "lease-early", "LeaseReleased", { reason: "requested", detail: null }),
    requested(25_000, "after"),
  ];
  const fold = new WorkloadOfLog();
  for (const e of log) fold.add(e);
  const w = fold.workload({ from: T0 + 10_000, to: T0 + 20_000 });

  it("takes the leases asked inside the window and those still pending when it opened", () => {
    expect(w.leases.map((l) => l.leaseId)).toEqual(["early", "gone"]);
    expect(w.leases[0]).toMatchObject({ priority: 5, requestedAt: T0 + 5000, activatedAt: T0 + 12_200, endedAt: T0 + 15_000, ended: "released" });
    expect(w.leases[1]).toMatchObject({ priority: 0, activatedAt: null, endedAt: T0 + 14_000 });
  });

  it("starts from the pool alive when the window opened, with the slots held then", () => {
    expect(w.initialPool.map((r) => r.resourceId)).toEqual(["r1"]);
    expect(w.carried).toEqual([{ leaseId: "old", owner: "ci", resourceType: "sandbox", resourceId: "r1", slot: 0, endsAt: T0 + 12_000 }]);
  });

  it("folds blueprint settings up to the window's start and keeps later ones as changes; build time and latency are medians", () => {
    expect(w.blueprints).toEqual([
      expect.objectContaining({ name: "pool", resourceLimit: 2, changes: [{ at: T0 + 11_000, resourceLimit: 3 }], buildMs: 2000, builds: 1, activations: 2 }),
    ]);
    // old: activated 100 ms after its resource; early: 200 ms after the slot it queued for was released.
    expect(w.blueprints[0]!.latencyMs).toBe(100);
  });
});

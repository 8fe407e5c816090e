import { describe, expect, it } from "vitest";
import { explainResourceLines, type EventOfResource } from "../../src/history/explain-resource";

/** `drydock explain resource ID`'s words (pure): why it was built, what ended it, then each event. */
const event = (type: string, data: unknown, actor: string, at: string): EventOfResource => ({ type, streamId: "resource-rs_1", data, metadata: { actor }, recordedAt: `2026-08-01T08:00:0${at}.000Z` });
const allocated = (extra: Record<string, unknown>) =>
  event("ResourceAllocated", { resourceId: "rs_1", blueprintId: "bp_1", resourceType: "sandbox", attributes: {}, leaseSlots: 1, locks: [], forLeaseId: null, ...extra }, "pool:w1", "0");

describe("explainResourceLines", () => {
  it("names the policy that built a warm resource and the one that released it", () => {
    const lines = explainResourceLines([
      allocated({ reason: "warm pool: minReady 2 (0 ready)" }),
      event("ResourceActivated", { attributes: {} }, "allocator:w1", "1"),
      event("ResourceReleased", { reason: "idle for 601 s (idleDestroySeconds 600)" }, "pool:w1", "2"),
      event("ResourceDestroyed", {}, "allocator:w1", "3"),
    ]);
    expect(lines).toEqual([
      "resource rs_1: built by policy: warm pool: minReady 2 (0 ready); released: idle for 601 s (idleDestroySeconds 600)",
      "2026-08-01T08:00:00.000Z  resource rs_1 built from bp_1 (warm pool: minReady 2 (0 ready))  (pool:w1)",
      "2026-08-01T08:00:01.000Z  resource rs_1 active  (allocator:w1)",
      "2026-08-01T08:00:02.000Z  resource rs_1 released: idle for 601 s (idleDestroySeconds 600)  (pool:w1)",
      "2026-08-01T08:00:03.000Z  resource rs_1 destroyed  (allocator:w1)",
    ]);
  });

  it("names the lease a resource was built for, and says nothing ended a live one", () => {
    expect(explainResourceLines([allocated({ forLeaseId: "ls_9" })])[0]).toBe("resource rs_1: built for lease ls_9");
    expect(() => explainResourceLines([])).toThrow(/start with ResourceAllocated/);
  });
});

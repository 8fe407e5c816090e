import { describe, expect, it } from "vitest";
import { SlotsInFlight } from "../../src/allocator/slots-in-flight";
import type { ResourceCandidate } from "../../src/allocator/decide-allocation";
import { resourceView } from "../support/blueprint-fixtures";

const candidate = (resourceId: string, usedSlots: number[]): ResourceCandidate =>
  ({ resource: resourceView({ resourceId, leaseSlots: 4, liveLeases: usedSlots.length }), acquire: { ok: true }, supplemental: false, usedSlots, idleSince: null });

describe("SlotsInFlight", () => {
  it("counts the slots being taken as used on their resource, until each is done", () => {
    const inFlight = new SlotsInFlight();
    const view = { resources: [candidate("rs_a", [0]), candidate("rs_b", [])] };
    expect(inFlight.seenIn(view)).toBe(view);
    const first = inFlight.take("rs_a", 1);
    const second = inFlight.take("rs_a", 2);
    // The same slot twice (a race lost anyway): it stays taken until both are done.
    const again = inFlight.take("rs_a", 2);
    expect(inFlight.seenIn(view).resources.map((r) => [...r.usedSlots].sort())).toEqual([[0, 1, 2], []]);
    second();
    second();
    expect(inFlight.seenIn(view).resources[0]!.usedSlots).toEqual([0, 1, 2]);
    again();
    first();
    expect(inFlight.seenIn(view)).toBe(view);
  });
});

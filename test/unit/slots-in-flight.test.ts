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

  it("counts a committed slot for views read before its commit, and only those", () => {
    let now = 100;
    const inFlight = new SlotsInFlight(() => now);
    const view = { resources: [candidate("rs_a", [0])] };
    const readBefore = now;
    const done = inFlight.take("rs_a", 1);
    now = 105;
    done(true);
    now = 110;
    // Read before the commit: the slot may not show in its rows.
    expect(inFlight.seenIn(view, readBefore).resources[0]!.usedSlots).toEqual([0, 1]);
    // Read after it: its rows show the slot as they are (taken, or freed since).
    expect(inFlight.seenIn(view, 106)).toBe(view);
    // Without a read time: the slots in flight alone.
    expect(inFlight.seenIn(view)).toBe(view);
    // An append that failed took nothing.
    inFlight.take("rs_a", 2)(false);
    expect(inFlight.seenIn(view, readBefore).resources[0]!.usedSlots).toEqual([0, 1]);
    // Long after, a commit is forgotten: no view is read that long.
    now = 60_000;
    expect(inFlight.seenIn(view, readBefore)).toBe(view);
  });
});

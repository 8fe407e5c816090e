import { describe, expect, it } from "vitest";
import { decideReap, type TaggedInstance } from "../../src/blueprints/ec2-host/reap-decision";

/** The leak reaper's decision: orphans are terminated only when two passes a grace period apart agree. */
const t0 = new Date("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);
const GRACE = 600_000;
const instance = (instanceId: string, resourceId: string | null, state = "running"): TaggedInstance => ({ instanceId, resourceId, blueprintId: "bp_1", state });
const statuses: Record<string, string> = { rs_live: "active", rs_booting: "pending", rs_released: "released", rs_gone: "destroyed", rs_broken: "broken" };
const statusOf = (id: string) => statuses[id];

describe("leak reaper decision", () => {
  const fleet = [
    instance("i-live", "rs_live"),
    instance("i-booting", "rs_booting", "pending"),
    instance("i-released", "rs_released"),
    instance("i-gone", "rs_gone"),
    instance("i-broken", "rs_broken"),
    instance("i-unknown", "rs_nobody"),
    instance("i-untagged", null),
    instance("i-ending", "rs_gone", "shutting-down"),
  ];

  it("suspects instances of destroyed, broken and unknown resources on a first look, and reaps none", () => {
    const first = decideReap(fleet, statusOf, new Map(), t0, GRACE);
    expect(first.reap).toEqual([]);
    expect(first.suspects.map((s) => [s.instanceId, s.reason])).toEqual([
      ["i-gone", "its resource rs_gone is destroyed"],
      ["i-broken", "its resource rs_broken is broken"],
      ["i-unknown", "its resource rs_nobody is unknown to the log"],
      ["i-untagged", "it carries this installation's tag but no drydock:resource tag"],
    ]);
  });

  it("reaps them when a second pass at least the grace period later agrees", () => {
    const first = decideReap(fleet, statusOf, new Map(), t0, GRACE);
    const early = decideReap(fleet, statusOf, first.next, at(GRACE - 1), GRACE);
    expect(early.reap).toEqual([]);
    const second = decideReap(fleet, statusOf, early.next, at(GRACE), GRACE);
    expect(second.reap.map((r) => r.instanceId)).toEqual(["i-gone", "i-broken", "i-unknown", "i-untagged"]);
    expect(second.reap[0]!.suspectSince).toEqual(t0);
    expect(second.next.size).toBe(0);
  });

  it("forgets a suspect whose resource turns out to be live (a launch recorded after the first look)", () => {
    const first = decideReap([instance("i-new", "rs_late")], () => undefined, new Map(), t0, GRACE);
    expect(first.next.has("i-new")).toBe(true);
    const second = decideReap([instance("i-new", "rs_late")], () => "pending", first.next, at(GRACE * 2), GRACE);
    expect(second.reap).toEqual([]);
    expect(second.next.size).toBe(0);
  });

  it("never reaps on one look, however long ago the instance was launched", () => {
    expect(decideReap([instance("i-gone", "rs_gone")], statusOf, new Map(), at(GRACE * 100), GRACE).reap).toEqual([]);
  });
});

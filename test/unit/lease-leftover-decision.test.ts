import { describe, expect, it } from "vitest";
import { decideLeaseLeftovers, type LeaseRecord } from "../../src/allocator/lease-leftover-decision";

const now = new Date("2026-12-05T10:00:00Z");
const GRACE = 10 * 60_000;
const ago = (ms: number) => new Date(now.getTime() - ms);

function decide(leases: Record<string, LeaseRecord>, found: [string, number][], machineWide = false) {
  return decideLeaseLeftovers(
    found.map(([leaseId, age]) => ({ leaseId, changedAt: ago(age), ...(machineWide ? { machineWide } : {}) })),
    (id) => leases[id],
    "rs_1",
    now,
    GRACE,
  );
}

describe("which leftovers of leases the sweep removes", () => {
  it("removes what a destroyed lease or one the log does not know left, once unchanged for the grace period", () => {
    const d = decide({ ls_done: { status: "destroyed", resourceId: "rs_1" } }, [
      ["ls_done", GRACE],
      ["ls_ghost", GRACE + 1],
    ]);
    expect(d.remove).toEqual([
      { leaseId: "ls_done", reason: "its lease is destroyed", changedAt: ago(GRACE) },
      { leaseId: "ls_ghost", reason: "its lease is unknown to the log", changedAt: ago(GRACE + 1) },
    ]);
    expect(d.young).toEqual([]);
  });

  it("keeps an orphan changed within the grace period (a lease activated inline is stored just after its directories are made)", () => {
    const d = decide({}, [["ls_being_stored", GRACE - 1]]);
    expect(d.remove).toEqual([]);
    expect(d.young).toEqual([{ leaseId: "ls_being_stored", reason: "its lease is unknown to the log", changedAt: ago(GRACE - 1) }]);
  });

  it("never touches a lease that may still use them, however old, on this resource or another", () => {
    const statuses = ["pending", "acquired", "active", "released", "broken"];
    const leases = Object.fromEntries(statuses.map((status, i) => [`ls_${status}`, { status, resourceId: i % 2 ? "rs_other" : "rs_1" }]));
    const d = decide(leases, statuses.map((status) => [`ls_${status}`, 365 * 24 * 3600_000]));
    expect(d).toEqual({ remove: [], young: [] });
  });

  it("removes what only the machine-wide place holds (a cgroup) only for a lease this log has destroyed on this resource", () => {
    const old = GRACE + 1;
    const d = decide(
      {
        ls_done_here: { status: "destroyed", resourceId: "rs_1" },
        ls_done_elsewhere: { status: "destroyed", resourceId: "rs_2" },
        ls_live_here: { status: "active", resourceId: "rs_1" },
      },
      [
        ["ls_done_here", old],
        ["ls_done_elsewhere", old],
        ["ls_live_here", old],
        // Unknown to this log: another service's on this machine, perhaps.
        ["ls_someone_elses", old],
      ],
      true,
    );
    expect(d.remove.map((v) => v.leaseId)).toEqual(["ls_done_here"]);
    expect(d.young).toEqual([]);
  });
});

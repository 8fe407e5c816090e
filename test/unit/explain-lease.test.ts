import { describe, expect, it } from "vitest";
import { validateForAppend, type DomainEvent, type DomainEventType } from "../../events/catalogue";
import type { RecordedEvent } from "../../events/envelope";
import { explainLease } from "../../src/history/explain-lease";
import { formatExplanation } from "../../src/history/format-explanation";
import { StateAt } from "../../src/history/state-at";

/* A log of one lease and its resource, with times in seconds after T0 (validated like appends). */
const T0 = Date.parse("2026-04-01T08:00:00.000Z");
let position = 0;
const versions = new Map<string, number>();
function ev<T extends DomainEventType>(streamId: string, seconds: number, type: T, data: Extract<DomainEvent, { type: T }>["data"], actor = "allocator:w-1"): RecordedEvent {
  const { data: valid, version } = validateForAppend(type, data);
  const streamVersion = (versions.get(streamId) ?? 0) + 1;
  versions.set(streamId, streamVersion);
  position++;
  return { globalPosition: position, transactionId: String(position), eventId: `e${position}`, streamId, streamVersion, type, version, data: valid, metadata: { actor }, recordedAt: new Date(T0 + seconds * 1000) };
}
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function lease(id: string) {
  const s = `lease-${id}`;
  return {
    requested: (t: number) => ev(s, t, "LeaseRequested", { leaseId: id, resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "alice", ownerResourceId: null, ttlSeconds: null, expiresAt: null, authorizingObject: null }, "alice"),
    attempt: (t: number, n: number, decision: "wait" | "acquire" | "allocate", durationMs: number | null = 100) =>
      ev(s, t, "AllocationAttempted", {
        attempt: n,
        decision,
        candidates: [
          { kind: "resource", id: "rs_busy", blueprintId: "bp_pool", outcome: "skipped", reason: "all 1 slots in use" },
          { kind: "blueprint", id: "bp_pool", outcome: decision === "allocate" ? "chosen" : "skipped", reason: decision === "allocate" ? "builds a new resource" : "at its limit of 2 resources" },
        ],
        summary: decision === "wait" ? "waiting: 1 matching resource busy or unsuitable; pool at its limit of 2" : "build a new resource from pool",
        durationMs,
      }),
    waiting: (t: number, reason = "1 matching resource busy or unsuitable; pool at its limit of 2") => ev(s, t, "LeaseWaiting", { reason, retryAt: at(t + 60).toISOString(), blueprintIds: ["bp_pool"] }),
    yielded: (t: number) => ev(s, t, "LeaseYielded", { reason: "activation failed, will retry: busy", retryAt: at(t + 1).toISOString(), attempt: 1, error: { code: "busy", message: "busy" } }),
    acquired: (t: number, resourceId: string) => ev(s, t, "LeaseAcquired", { resourceId, blueprintId: "bp_pool", slot: 0, locks: [`resource:${resourceId}:slot:0`] }),
    activated: (t: number) => ev(s, t, "LeaseActivated", { workingDirectory: null }),
    reacquiring: (t: number, resourceId: string) => ev(s, t, "LeaseReacquiring", { resourceId, reason: `resource ${resourceId} broken` }),
    released: (t: number) => ev(s, t, "LeaseReleased", { reason: "requested", detail: null }, "alice"),
    broken: (t: number) => ev(s, t, "LeaseBroken", { reason: "3 resources ended under this lease", error: null }),
    destroyed: (t: number) => ev(s, t, "LeaseDestroyed", { cleanupError: null }),
  };
}
function resource(id: string) {
  const s = `resource-${id}`;
  return {
    allocated: (t: number, forLeaseId: string | null) => ev(s, t, "ResourceAllocated", { resourceId: id, blueprintId: "bp_pool", resourceType: "sandbox", attributes: {}, leaseSlots: 1, locks: [], forLeaseId }),
    activated: (t: number) => ev(s, t, "ResourceActivated", { attributes: {} }),
    broken: (t: number) => ev(s, t, "ResourceBroken", { reason: "activation failed: no image", error: null }),
  };
}

describe("explainLease", () => {
  it("splits a 40 s wait into the slot, the allocator, the resource's activation and the lease's setup", () => {
    const l = lease("ls_a");
    const r = resource("rs_x");
    const events = [l.requested(0), l.attempt(0.1, 1, "wait"), l.waiting(0.1), l.attempt(20, 2, "wait"), l.waiting(20), l.attempt(38.1, 3, "allocate", 100), l.acquired(38.1, "rs_x"), l.waiting(38.2, "waiting for resource rs_x to activate"), l.activated(40.1), l.released(50.1), l.destroyed(50.2)];
    const resourceEvents = [r.allocated(38.1, "ls_a"), r.activated(40.0)];
    const x = explainLease(events, resourceEvents, at(100));

    expect(x).toMatchObject({ leaseId: "ls_a", status: "destroyed", waitedMs: 40_100, stillWaiting: false, attempts: 3, heldMs: 10_000 });
    expect(x.waits).toEqual([
      { cause: "slot", ms: 37_800, detail: "1 matching resource busy or unsuitable; pool at its limit of 2" },
      { cause: "resource-activation", ms: 1_900, detail: "rs_x" },
      { cause: "allocator", ms: 300, detail: null },
      { cause: "lease-activation", ms: 100, detail: "rs_x" },
    ]);
    expect(x.summary).toBe(
      "ls_a waited 40.1 s before it was active: 37.8 s for a free slot (1 matching resource busy or unsuitable; pool at its limit of 2), " +
        "1.9 s for resource rs_x to activate, 0.3 s in the allocator deciding, 0.1 s for the lease to be set up on rs_x (3 allocation attempts); " +
        "it was active for 10.0 s, then released (requested) by alice.",
    );
    // The resource's events are in the timeline while the lease was on it, with each step's duration.
    expect(x.timeline.map((s) => [s.event, s.durationMs])).toEqual([
      ["LeaseRequested", 100],
      ["AllocationAttempted", 0],
      ["LeaseWaiting", 19_900],
      ["AllocationAttempted", 0],
      ["LeaseWaiting", 18_100],
      ["AllocationAttempted", 0],
      ["LeaseAcquired", 0],
      ["ResourceAllocated", 100],
      ["LeaseWaiting", 1_800],
      ["ResourceActivated", 100],
      ["LeaseActivated", 10_000],
      ["LeaseReleased", 100],
      ["LeaseDestroyed", null],
    ]);
    expect(x.timeline[1]!.candidates).toHaveLength(2);
    expect(x.timeline[1]!.title).toBe("allocation attempt 1: wait, waiting: 1 matching resource busy or unsuitable; pool at its limit of 2 (decided in 100 ms)");
    expect(x.timeline.find((s) => s.event === "ResourceActivated")).toMatchObject({ streamId: "resource-rs_x", leaseStatus: "acquired", title: "resource rs_x active" });
    const text = formatExplanation(x);
    expect(text[0]).toBe(x.summary);
    expect(text).toContain("                        blueprint bp_pool: skipped, at its limit of 2 resources");
    expect(text.at(-5)).toBe("waited 40.100 s:");
  });

  it("counts the wait until now for a lease still waiting", () => {
    const l = lease("ls_b");
    const x = explainLease([l.requested(0), l.attempt(1, 1, "wait", null), l.waiting(1)], [], at(31));
    expect(x).toMatchObject({ status: "pending", stillWaiting: true, waitedMs: 31_000, activatedAt: null, heldMs: null });
    expect(x.waits.map((w) => [w.cause, w.ms])).toEqual([["slot", 30_000], ["queue", 1_000]]);
    expect(x.summary).toMatch(/^ls_b is pending and has waited 31\.0 s so far: 30\.0 s for a free slot \(.*\), 1\.0 s for an allocator to pick it up \(1 allocation attempt\)\.$/);
    expect(x.timeline.at(-1)!.durationMs).toBe(30_000);
  });

  it("says a lease that was active went back to pending when its resource broke, and is waiting again", () => {
    const l = lease("ls_e");
    const [r1, r2] = [resource("rs_1"), resource("rs_2")];
    const events = [l.requested(0), l.attempt(0, 1, "acquire", 0), l.acquired(0, "rs_1"), l.activated(1), l.reacquiring(30, "rs_1"), l.attempt(30, 2, "allocate", 0), l.acquired(30, "rs_2")];
    const x = explainLease(events, [r1.allocated(0, null), r1.activated(0), r1.broken(30), r2.allocated(30, "ls_e")], at(40));
    expect(x).toMatchObject({ status: "acquired", waitedMs: 1_000, activatedAt: at(1).toISOString(), endedAt: null });
    expect(x.summary).toBe(`ls_e waited 1.0 s before it was active: 1.0 s for the lease to be set up on rs_1 (2 allocation attempts; moved off rs_1 (resource rs_1 broken)); it went back to pending at ${at(30).toISOString()} and is acquired again.`);
  });

  it("explains a lease that never became active: resources that broke under it, retries, then broken", () => {
    const l = lease("ls_c");
    const [r1, r2] = [resource("rs_1"), resource("rs_2")];
    const events = [l.requested(0), l.attempt(0, 1, "allocate", 0), l.acquired(0, "rs_1"), l.reacquiring(2, "rs_1"), l.attempt(2, 2, "allocate", 0), l.acquired(2, "rs_2"), l.yielded(3), l.broken(5), l.destroyed(5.5)];
    const x = explainLease(events, [r1.allocated(0, "ls_c"), r1.broken(2), r2.allocated(2, "ls_c"), r2.broken(5), resource("rs_other").activated(1)], at(9));
    expect(x.waits.map((w) => [w.cause, w.ms])).toEqual([["resource-activation", 3_000], ["retry", 2_000]]);
    expect(x.summary).toBe("ls_c never became active: it was broken: 3 resources ended under this lease after waiting 5.0 s: 3.0 s for resource rs_1 to activate, 2.0 s retrying after failures (activation failed, will retry: busy) (2 allocation attempts; moved off rs_1 (resource rs_1 broken)).");
    expect(x.timeline.filter((s) => s.streamId.startsWith("resource-")).map((s) => `${s.streamId} ${s.event}`)).toEqual([
      "resource-rs_1 ResourceAllocated",
      "resource-rs_1 ResourceBroken",
      "resource-rs_2 ResourceAllocated",
      "resource-rs_2 ResourceBroken",
    ]);
  });
});

describe("StateAt", () => {
  it("folds each stream up to the moment, by time or by position, and ignores the rest of a stream", () => {
    const l = lease("ls_d");
    const r = resource("rs_d");
    const log = [r.allocated(0, null), r.activated(1), l.requested(2), l.attempt(3, 1, "acquire"), l.acquired(3, "rs_d"), l.activated(4), l.released(9), l.destroyed(10)];
    const fold = (moment: ConstructorParameters<typeof StateAt>[0]) => {
      const state = new StateAt(moment);
      for (const e of log) state.add(e);
      return { leases: state.leases().map((s) => s.status), resources: state.resources().map((s) => s.status), events: state.events };
    };
    expect(fold({ asOf: at(1.5) })).toEqual({ leases: [], resources: ["active"], events: 2 });
    expect(fold({ asOf: at(4) })).toEqual({ leases: ["active"], resources: ["active"], events: 6 });
    expect(fold({ toPosition: log[6]!.globalPosition })).toEqual({ leases: ["released"], resources: ["active"], events: 7 });
    expect(fold({})).toEqual({ leases: ["destroyed"], resources: ["active"], events: 8 });
  });
});

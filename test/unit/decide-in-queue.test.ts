import { describe, expect, it } from "vitest";
import type { AllocationView, BlueprintCandidate, ResourceCandidate } from "../../src/allocator/decide-allocation";
import { decideInQueue, type AheadLease } from "../../src/allocator/decide-in-queue";
import { no, yes, type Verdict } from "../../src/blueprints/blueprint";

const NOW = new Date("2026-12-01T12:00:00.000Z");

function blueprint(id: string, opts: { resourceLimit?: number | null; usedLimitSlots?: number[]; plan?: Verdict | "plan" } = {}): BlueprintCandidate {
  return {
    blueprint: { blueprintId: id, name: `${id}-name`, kind: "test", resourceType: "host", config: {}, resourceLimit: opts.resourceLimit ?? null, enabled: true, liveResources: 0, failingTargets: [] },
    ever: yes,
    plan: opts.plan === undefined || opts.plan === "plan" ? { attributes: {}, leaseSlots: 1, locks: [], heldLeases: [] } : opts.plan,
    usedLimitSlots: opts.usedLimitSlots ?? [],
  };
}

function resource(id: string, opts: { slots?: number; used?: number[]; acquire?: Verdict } = {}): ResourceCandidate {
  const used = opts.used ?? [];
  return {
    resource: { resourceId: id, blueprintId: "bp-1", resourceType: "host", status: "active", attributes: {}, leaseSlots: opts.slots ?? 1, liveLeases: used.length, suspectReason: null, endReason: null },
    acquire: opts.acquire ?? yes,
    supplemental: false,
    usedSlots: used,
    idleSince: null,
  };
}

function viewOf(leaseId: string, blueprints: BlueprintCandidate[], resources: ResourceCandidate[]): AllocationView {
  return {
    lease: { leaseId, resourceType: "host", attributes: {}, owner: "alice", ownerResourceId: null, authorizingObject: null, blueprintIds: null },
    blueprints,
    resources,
    now: NOW,
    reclaimIdleMs: 3_600_000,
  };
}

const ahead = (leaseId: string, view: AllocationView): AheadLease => ({ leaseId, view });

describe("the fair queue (decideInQueue)", () => {
  // Limit 1, the one resource built, one slot free.
  const full = [blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })];

  it("with nobody ahead, decides as the allocator alone would", () => {
    const outcome = decideInQueue({ ...viewOf("ls_new", full, [resource("rs_1")]), ahead: [] });
    expect(outcome.decision).toMatchObject({ kind: "acquire", resourceId: "rs_1", slot: 0 });
  });

  it("a freed slot goes to the lease ahead; the newcomer waits, queued behind it", () => {
    const outcome = decideInQueue({ ...viewOf("ls_new", full, [resource("rs_1")]), ahead: [ahead("ls_old", viewOf("ls_old", full, [resource("rs_1")]))] });
    expect(outcome.decision).toEqual({ kind: "wait", cause: "capacity", queuedBehind: ["ls_old"], reason: "queued behind 1 lease ahead of it (higher priority, or asked earlier) for the capacity free now: ls_old" });
  });

  it("capacity the leases ahead leave over is the newcomer's", () => {
    const outcome = decideInQueue({ ...viewOf("ls_new", full, [resource("rs_1", { slots: 2 })]), ahead: [ahead("ls_old", viewOf("ls_old", full, [resource("rs_1", { slots: 2 })]))] });
    expect(outcome.decision).toMatchObject({ kind: "acquire", resourceId: "rs_1", slot: 1 });
  });

  it("a lease ahead that cannot use the free resource (its attributes) blocks nobody", () => {
    const refusing = viewOf("ls_old", full, [resource("rs_1", { acquire: no("wants arch arm64") })]);
    const outcome = decideInQueue({ ...viewOf("ls_new", full, [resource("rs_1")]), ahead: [ahead("ls_old", refusing)] });
    expect(outcome.decision).toMatchObject({ kind: "acquire", resourceId: "rs_1" });
  });

  it("a lease ahead that would build takes a limit slot first; the next one builds with what is left, or waits", () => {
    const open = (used: number[]) => [blueprint("bp-1", { resourceLimit: 2, usedLimitSlots: used })];
    const one = decideInQueue({ ...viewOf("ls_new", open([0]), []), ahead: [ahead("ls_old", viewOf("ls_old", open([0]), []))] });
    expect(one.decision).toMatchObject({ kind: "wait" });
    expect((one.decision as { reason: string }).reason).toMatch(/^queued behind 1 lease/);
    const two = decideInQueue({ ...viewOf("ls_new", open([]), []), ahead: [ahead("ls_old", viewOf("ls_old", open([]), []))] });
    expect(two.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-1", limitSlot: 1 });
  });

  it("when nothing is free anyway, the wait says why as the allocator does, not the queue", () => {
    const busy = [resource("rs_1", { used: [0] })];
    const outcome = decideInQueue({ ...viewOf("ls_new", full, busy), ahead: [ahead("ls_old", viewOf("ls_old", full, busy))] });
    expect(outcome.decision.kind).toBe("wait");
    expect((outcome.decision as { reason: string }).reason).not.toMatch(/queued/);
  });

  it("serves the leases ahead in order: with two free slots and three ahead, the newcomer waits behind the two that take them", () => {
    const two = () => [resource("rs_1"), resource("rs_2")];
    const queue = ["ls_a", "ls_b", "ls_c"].map((id) => ahead(id, viewOf(id, full, two())));
    const outcome = decideInQueue({ ...viewOf("ls_new", full, two()), ahead: queue });
    expect((outcome.decision as { reason: string }).reason).toBe("queued behind 2 leases ahead of it (higher priority, or asked earlier) for the capacity free now: ls_a, ls_b");
  });
});

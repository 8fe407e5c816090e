import { describe, expect, it } from "vitest";
import { decideAllocation, type AllocationView, type BlueprintCandidate, type ResourceCandidate } from "../../src/allocator/decide-allocation";
import { no, yes, type Verdict } from "../../src/blueprints/blueprint";

/** The authorization verdict in the allocation decision: unauthorized blueprints are skipped, and a lease with none waits. */

const NOW = new Date("2024-05-01T12:00:00.000Z");
const notFor = no("not authorized for alice");

function blueprint(id: string, authorized: Verdict | undefined, opts: { enabled?: boolean; ever?: Verdict } = {}): BlueprintCandidate {
  return {
    blueprint: { blueprintId: id, name: `${id}-name`, kind: "test", resourceType: "host", config: {}, resourceLimit: null, enabled: opts.enabled ?? true, liveResources: 0, failingTargets: [] },
    ever: opts.ever ?? yes,
    plan: { attributes: {}, leaseSlots: 2, locks: [], heldLeases: [] },
    usedLimitSlots: [],
    ...(authorized === undefined ? {} : { authorized }),
  };
}

function resource(id: string, blueprintId: string): ResourceCandidate {
  return {
    resource: { resourceId: id, blueprintId, resourceType: "host", status: "active", attributes: {}, leaseSlots: 2, liveLeases: 0, suspectReason: null, endReason: null },
    acquire: yes,
    supplemental: false,
    usedSlots: [],
    idleSince: null,
  };
}

function view(blueprints: BlueprintCandidate[], resources: ResourceCandidate[] = [], authorizingObject: string | null = "alice"): AllocationView {
  return {
    lease: { leaseId: "lease-1", resourceType: "host", attributes: {}, owner: "alice", ownerResourceId: null, blueprintIds: null, authorizingObject },
    blueprints,
    resources,
    now: NOW,
    reclaimIdleMs: 60_000,
  };
}

describe("decideAllocation with authorizations", () => {
  it("never uses an unauthorized blueprint's resources, and says why it skipped the blueprint", () => {
    const out = decideAllocation(view([blueprint("bp-a", notFor), blueprint("bp-b", yes)], [resource("res-a", "bp-a"), resource("res-b", "bp-b")]));
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-b", blueprintId: "bp-b", slot: 0 });
    expect(out.candidates).toContainEqual({ kind: "blueprint", id: "bp-a", outcome: "skipped", reason: "not authorized for alice" });
    expect(out.candidates.some((c) => c.id === "res-a")).toBe(false);
  });

  it("builds only from an authorized blueprint", () => {
    const out = decideAllocation(view([blueprint("bp-a", notFor), blueprint("bp-b", yes)]));
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-b" });
  });

  it("waits (does not break) when no blueprint that could serve the lease is authorized, naming the client", () => {
    const out = decideAllocation(view([blueprint("bp-a", notFor), blueprint("bp-b", notFor)], [resource("res-a", "bp-a")]));
    expect(out.decision).toEqual({ kind: "wait", reason: "no host blueprint that could serve this lease is authorized for alice", cause: "capacity" });
    expect(out.summary).toBe("waiting: not authorized");
    expect(out.candidates.filter((c) => c.outcome === "skipped").map((c) => c.reason)).toEqual(["not authorized for alice", "not authorized for alice"]);
  });

  it("says so when the authorized blueprints are disabled", () => {
    const out = decideAllocation(view([blueprint("bp-a", notFor), blueprint("bp-b", yes, { enabled: false })]));
    expect(out.decision).toEqual({ kind: "wait", reason: "no host blueprint that could serve this lease is authorized for alice (the authorized ones are disabled)", cause: "capacity" });
  });

  it("breaks as before when no blueprint could ever serve the lease, authorized or not", () => {
    const out = decideAllocation(view([blueprint("bp-a", notFor, { ever: no("no gpu") })]));
    expect(out.decision.kind).toBe("break");
    expect(out.candidates).toContainEqual({ kind: "blueprint", id: "bp-a", outcome: "skipped", reason: "can never serve this lease: no gpu" });
  });

  it("a lease that needs no authorization (no verdicts: an admin's) uses every blueprint", () => {
    const out = decideAllocation(view([blueprint("bp-a", undefined)], [resource("res-a", "bp-a")], null));
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-a" });
  });
});

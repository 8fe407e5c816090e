import { describe, expect, it } from "vitest";
import { candidateSchema } from "../../events/lease-events";
import {
  decideAllocation,
  freeNumber,
  type AllocationOutcome,
  type AllocationView,
  type BlueprintCandidate,
  type ResourceCandidate,
} from "../../src/allocator/decide-allocation";
import { misconfigured, no, yes, type BlueprintView, type ResourcePlan, type ResourceView, type Verdict } from "../../src/blueprints/blueprint";

/* ------------------------------------------------------------------ factories */

const NOW = new Date("2024-05-01T12:00:00.000Z");
const MINUTE = 60_000;
const RECLAIM_IDLE_MS = 30 * MINUTE;

function plan(over: Partial<ResourcePlan> = {}): ResourcePlan {
  return { attributes: { size: "large" }, leaseSlots: 2, locks: [], heldLeases: [], ...over };
}

function blueprint(
  id: string,
  opts: {
    name?: string;
    resourceLimit?: number | null;
    enabled?: boolean;
    ever?: Verdict;
    plan?: ResourcePlan | Verdict;
    usedLimitSlots?: number[];
  } = {},
): BlueprintCandidate {
  const usedLimitSlots = opts.usedLimitSlots ?? [];
  const view: BlueprintView = {
    blueprintId: id,
    name: opts.name ?? `${id}-name`,
    kind: "test",
    resourceType: "host",
    config: {},
    resourceLimit: opts.resourceLimit === undefined ? null : opts.resourceLimit,
    enabled: opts.enabled ?? true,
    liveResources: usedLimitSlots.length,
    failingTargets: [],
  };
  return { blueprint: view, ever: opts.ever ?? yes, plan: opts.plan ?? plan(), usedLimitSlots };
}

function resource(
  id: string,
  opts: {
    blueprintId?: string;
    status?: string;
    leaseSlots?: number;
    liveLeases?: number;
    usedSlots?: number[];
    acquire?: Verdict;
    supplemental?: boolean;
    idleSince?: Date | null;
    suspectReason?: string;
  } = {},
): ResourceCandidate {
  const liveLeases = opts.liveLeases ?? opts.usedSlots?.length ?? 0;
  const view: ResourceView = {
    resourceId: id,
    blueprintId: opts.blueprintId ?? "bp-1",
    resourceType: "host",
    status: opts.status ?? "active",
    attributes: { size: "large" },
    leaseSlots: opts.leaseSlots ?? 2,
    liveLeases,
    suspectReason: opts.suspectReason ?? null,
    endReason: null,
  };
  return {
    resource: view,
    acquire: opts.acquire ?? yes,
    supplemental: opts.supplemental ?? false,
    usedSlots: opts.usedSlots ?? Array.from({ length: liveLeases }, (_, i) => i),
    idleSince: opts.idleSince === undefined ? null : opts.idleSince,
  };
}

function view(
  blueprints: BlueprintCandidate[],
  resources: ResourceCandidate[] = [],
  opts: { blueprintIds?: string[] | null; reclaimIdleMs?: number } = {},
): AllocationView {
  return {
    lease: {
      leaseId: "lease-1",
      resourceType: "host",
      attributes: { size: "large" },
      owner: "alice",
      ownerResourceId: null,
      authorizingObject: null,
      blueprintIds: opts.blueprintIds ?? null,
    },
    blueprints,
    resources,
    now: NOW,
    reclaimIdleMs: opts.reclaimIdleMs ?? RECLAIM_IDLE_MS,
  };
}

const ago = (ms: number) => new Date(NOW.getTime() - ms);

function candidate(outcome: AllocationOutcome, kind: "resource" | "blueprint", id: string) {
  return outcome.candidates.filter((c) => c.kind === kind && c.id === id);
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/* ------------------------------------------------------------------ freeNumber */

describe("freeNumber", () => {
  it("returns the lowest slot not in use", () => {
    expect(freeNumber([], 3)).toBe(0);
    expect(freeNumber([0], 3)).toBe(1);
    expect(freeNumber([0, 2], 3)).toBe(1);
    expect(freeNumber([1, 2], 3)).toBe(0);
    expect(freeNumber([2, 0], 3)).toBe(1);
  });

  it("returns null when every slot is in use or there are none", () => {
    expect(freeNumber([0, 1, 2], 3)).toBeNull();
    expect(freeNumber([2, 1, 0], 3)).toBeNull();
    expect(freeNumber([], 0)).toBeNull();
  });

  it("ignores slot numbers beyond the size", () => {
    expect(freeNumber([5, 7], 2)).toBe(0);
    expect(freeNumber([0, 1, 5], 2)).toBeNull();
  });

  it("with an offset, takes the free slot at that place among the free ones, wrapping", () => {
    expect(freeNumber([0, 2], 5, 1)).toBe(3);
    expect(freeNumber([0, 2], 5, 2)).toBe(4);
    expect(freeNumber([0, 2], 5, 3)).toBe(1);
    expect(freeNumber([0, 1, 2], 3, 7)).toBeNull();
  });

  it("spreads offsets evenly over the free slots, after a run of taken ones too", () => {
    // Slots 0–31 of 64 taken: each of the 32 free ones is taken by as many offsets as any other.
    const taken = Array.from({ length: 32 }, (_, i) => i);
    const picks = new Map<number, number>();
    for (let offset = 0; offset < 32 * 10; offset++) {
      const slot = freeNumber(taken, 64, offset)!;
      picks.set(slot, (picks.get(slot) ?? 0) + 1);
    }
    expect([...picks.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => 32 + i));
    expect(new Set(picks.values())).toEqual(new Set([10]));
  });
});

/* ------------------------------------------------------------------ Drydock order */

describe("decideAllocation: the Drydock order", () => {
  it("leases a free resource rather than building a new one", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-1")]));
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-1", blueprintId: "bp-1", slot: 0 });
    expect(candidate(out, "resource", "res-1")).toEqual([expect.objectContaining({ outcome: "chosen", blueprintId: "bp-1" })]);
    expect(out.candidates.some((c) => c.kind === "blueprint" && c.outcome === "chosen")).toBe(false);
  });

  it("leases a free resource of a blueprint with supplemental preference when it has no leases yet", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-1", { supplemental: true, liveLeases: 0 })]));
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-1", blueprintId: "bp-1", slot: 0 });
  });

  it("shares a used resource before building when the blueprint does not prefer supplemental resources", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-1", { liveLeases: 1, supplemental: false })]));
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-1", blueprintId: "bp-1", slot: 1 });
  });

  it("builds when no resource is free and the blueprint is under its limit", () => {
    const p = plan({ leaseSlots: 4, locks: ["host:a"] });
    const out = decideAllocation(view([blueprint("bp-1", { resourceLimit: 3, usedLimitSlots: [0, 2], plan: p })]));
    expect(out.decision).toEqual({ kind: "allocate", blueprintId: "bp-1", limitSlot: 1, plan: p });
    if (out.decision.kind !== "allocate") throw new Error("unreachable");
    expect(out.decision.plan).toBe(p);
    expect(candidate(out, "blueprint", "bp-1")).toEqual([expect.objectContaining({ outcome: "chosen", reason: "builds a new resource" })]);
  });

  it("builds with limitSlot null when the blueprint has no limit", () => {
    const out = decideAllocation(view([blueprint("bp-1", { resourceLimit: null })]));
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-1", limitSlot: null });
  });

  it("builds with the lowest free limit slot", () => {
    const out = decideAllocation(view([blueprint("bp-1", { resourceLimit: 4, usedLimitSlots: [1, 3] })]));
    expect(out.decision).toMatchObject({ kind: "allocate", limitSlot: 0 });
  });

  it("builds rather than sharing a used resource when the blueprint prefers supplemental resources", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { resourceLimit: 2, usedLimitSlots: [0] })], [resource("res-1", { liveLeases: 1, supplemental: true })]),
    );
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-1", limitSlot: 1 });
  });

  it("at the limit, shares a used resource when the blueprint prefers supplemental resources", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })], [resource("res-1", { liveLeases: 1, leaseSlots: 2, supplemental: true })]),
    );
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-1", blueprintId: "bp-1", slot: 1 });
    expect(candidate(out, "blueprint", "bp-1")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "at its limit of 1 resources" })]);
    expect(candidate(out, "resource", "res-1")).toEqual([expect.objectContaining({ outcome: "chosen", reason: expect.stringContaining("shared") })]);
  });

  it("shares a used resource when the blueprint cannot build now", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { plan: no("quota exhausted") })], [resource("res-1", { liveLeases: 1, supplemental: true })]),
    );
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-1", slot: 1 });
    expect(candidate(out, "blueprint", "bp-1")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "quota exhausted" })]);
  });

  it("reclaims the oldest idle active resource when nothing else works", () => {
    const out = decideAllocation(
      view(
        [blueprint("bp-1", { resourceLimit: 3, usedLimitSlots: [0, 1, 2] })],
        [
          resource("res-young", { acquire: no("wrong size"), idleSince: ago(40 * MINUTE) }),
          resource("res-old", { acquire: no("wrong size"), idleSince: ago(90 * MINUTE) }),
          resource("res-recent", { acquire: no("wrong size"), idleSince: ago(5 * MINUTE) }),
        ],
      ),
    );
    expect(out.decision).toEqual({ kind: "reclaim", resourceId: "res-old", blueprintId: "bp-1" });
    expect(out.candidates.filter((c) => c.outcome === "chosen")).toEqual([
      { kind: "resource", id: "res-old", blueprintId: "bp-1", outcome: "chosen", reason: "idle: reclaim it" },
    ]);
  });

  it("reclaims a resource idle exactly reclaimIdleMs", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })], [resource("res-1", { acquire: no("wrong size"), idleSince: ago(RECLAIM_IDLE_MS) })]),
    );
    expect(out.decision).toMatchObject({ kind: "reclaim", resourceId: "res-1" });
  });

  it("does not reclaim a resource idle for less than reclaimIdleMs, nor a pending, busy or never-idle one", () => {
    const out = decideAllocation(
      view(
        [blueprint("bp-1", { name: "hosts", resourceLimit: 4, usedLimitSlots: [0, 1, 2, 3] })],
        [
          resource("res-recent", { acquire: no("wrong size"), idleSince: ago(RECLAIM_IDLE_MS - 1) }),
          resource("res-pending", { status: "pending", acquire: no("wrong size"), idleSince: ago(2 * RECLAIM_IDLE_MS) }),
          resource("res-busy", { liveLeases: 1, acquire: no("wrong size"), idleSince: ago(2 * RECLAIM_IDLE_MS) }),
          resource("res-never", { acquire: no("wrong size"), idleSince: null }),
        ],
      ),
    );
    expect(out.decision.kind).toBe("wait");
  });

  it("waits with a reason naming the limit when every blueprint is at its limit", () => {
    const out = decideAllocation(
      view(
        [blueprint("bp-1", { name: "hosts", resourceLimit: 2, usedLimitSlots: [0, 1] })],
        [resource("res-1", { leaseSlots: 1, liveLeases: 1 }), resource("res-2", { leaseSlots: 1, liveLeases: 1 })],
      ),
    );
    expect(out.decision.kind).toBe("wait");
    if (out.decision.kind !== "wait") throw new Error("unreachable");
    expect(out.decision.reason).toContain("hosts at its limit of 2");
    expect(out.decision.reason).toContain("2 matching resources busy or unsuitable");
    expect(out.summary).toContain("waiting");
    expect(out.candidates.some((c) => c.outcome === "chosen")).toBe(false);
  });

  it("waits with the blueprint's own reason when it cannot build now", () => {
    const out = decideAllocation(view([blueprint("bp-1", { name: "hosts", plan: no("quota exhausted") })]));
    expect(out.decision).toEqual({ kind: "wait", reason: "0 matching resources busy or unsuitable; hosts: quota exhausted", cause: "capacity" });
  });

  it("breaks when no blueprint could ever serve the lease, naming the type", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { ever: no("no such region") }), blueprint("bp-2", { ever: no("too small") })], [resource("res-1")]),
    );
    expect(out.decision.kind).toBe("break");
    if (out.decision.kind !== "break") throw new Error("unreachable");
    expect(out.decision.reason).toContain("host");
    expect(candidate(out, "blueprint", "bp-1")).toEqual([
      { kind: "blueprint", id: "bp-1", outcome: "skipped", reason: "can never serve this lease: no such region" },
    ]);
    expect(candidate(out, "blueprint", "bp-2")).toEqual([
      { kind: "blueprint", id: "bp-2", outcome: "skipped", reason: "can never serve this lease: too small" },
    ]);
  });

  it("breaks when there are no blueprints at all", () => {
    const out = decideAllocation(view([]));
    expect(out.decision).toEqual({ kind: "break", reason: expect.stringContaining("host") });
    expect(out.candidates).toEqual([]);
  });

  it("waits (not breaks) when the only usable blueprints are disabled", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { enabled: false }), blueprint("bp-2", { ever: no("too small") })], [resource("res-1", { blueprintId: "bp-1" })]),
    );
    expect(out.decision.kind).toBe("wait");
    if (out.decision.kind !== "wait") throw new Error("unreachable");
    expect(out.decision.reason).toContain("disabled");
    expect(candidate(out, "blueprint", "bp-1")).toEqual([{ kind: "blueprint", id: "bp-1", outcome: "skipped", reason: "disabled" }]);
    // A free resource of a disabled blueprint is not leased.
    expect(candidate(out, "resource", "res-1").some((c) => c.outcome === "chosen")).toBe(false);
  });

  it("breaks when a disabled blueprint could never serve the lease anyway", () => {
    const out = decideAllocation(view([blueprint("bp-1", { enabled: false, ever: no("too small") })]));
    expect(out.decision.kind).toBe("break");
  });
});

/* ------------------------------------------------ failures users can act on */

describe("decideAllocation: suspect resources and configuration errors", () => {
  it("skips a suspect resource with its reason and takes a healthy one, even a less free one", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { plan: no("no host left") })], [
        resource("res-dead", { suspectReason: "a lease could not use it: connection refused" }),
        resource("res-ok", { liveLeases: 1, usedSlots: [0] }),
      ]),
    );
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-ok" });
    expect(candidate(out, "resource", "res-dead")).toEqual([
      { kind: "resource", id: "res-dead", blueprintId: "bp-1", outcome: "skipped", reason: "is suspect (a health check is under way): a lease could not use it: connection refused" },
    ]);
  });

  it("says a configuration error as itself when only a config fix can help", () => {
    const out = decideAllocation(view([blueprint("bp-1", { name: "pool", plan: misconfigured("the host key of build-2 did not match its pinned fingerprint") })]));
    expect(out.decision).toEqual({ kind: "wait", reason: "configuration error: pool: the host key of build-2 did not match its pinned fingerprint", cause: "configuration" });
    expect(out.summary).toBe("waiting: configuration error");
  });

  it("waits for a slot, naming the configuration error too, while a busy resource may still free one", () => {
    const out = decideAllocation(
      view([blueprint("bp-1", { name: "pool", plan: misconfigured("build-2: bad key") })], [resource("res-1", { leaseSlots: 1, liveLeases: 1, usedSlots: [0] })]),
    );
    expect(out.decision).toEqual({ kind: "wait", reason: "1 matching resource busy or unsuitable; pool: build-2: bad key", cause: "capacity" });
  });

  it("waits (does not break) when a blueprint's config cannot be read: a fix may come", () => {
    const out = decideAllocation(view([blueprint("bp-1", { name: "pool", ever: misconfigured("its config is invalid: hosts: required") })]));
    expect(out.decision).toEqual({ kind: "wait", reason: "configuration error: pool: its config is invalid: hosts: required", cause: "configuration" });
  });
});

/* ------------------------------------------------------------------ filters */

describe("decideAllocation: what is skipped and why", () => {
  it("restricts blueprints to the lease's blueprintIds", () => {
    const out = decideAllocation(
      view([blueprint("bp-a"), blueprint("bp-b")], [resource("res-b", { blueprintId: "bp-b" })], { blueprintIds: ["bp-a"] }),
    );
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-a" });
    expect(candidate(out, "blueprint", "bp-b")).toEqual([{ kind: "blueprint", id: "bp-b", outcome: "skipped", reason: "not allowed for this lease" }]);
    // The free resource of a blueprint the lease may not use is never leased.
    expect(candidate(out, "resource", "res-b").some((c) => c.outcome === "chosen")).toBe(false);
  });

  it("breaks when blueprintIds allows none of the blueprints", () => {
    const out = decideAllocation(view([blueprint("bp-a")], [resource("res-a", { blueprintId: "bp-a" })], { blueprintIds: ["bp-z"] }));
    expect(out.decision.kind).toBe("break");
    expect(candidate(out, "blueprint", "bp-a")).toEqual([expect.objectContaining({ reason: "not allowed for this lease" })]);
  });

  it("skips a resource whose acquire verdict is no, with that reason", () => {
    const out = decideAllocation(
      view([blueprint("bp-1")], [resource("res-1", { acquire: no("wrong region") }), resource("res-2", { liveLeases: 1, leaseSlots: 4 })]),
    );
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-2", blueprintId: "bp-1", slot: 1 });
    expect(candidate(out, "resource", "res-1")).toEqual([
      { kind: "resource", id: "res-1", blueprintId: "bp-1", outcome: "skipped", reason: "wrong region" },
    ]);
  });

  it("skips a full resource", () => {
    const out = decideAllocation(view([blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })], [resource("res-1", { leaseSlots: 2, liveLeases: 2 })]));
    expect(out.decision.kind).toBe("wait");
    expect(candidate(out, "resource", "res-1")).toEqual([
      { kind: "resource", id: "res-1", blueprintId: "bp-1", outcome: "skipped", reason: "all 2 slots in use" },
    ]);
  });

  it("skips a resource that is neither active nor pending", () => {
    const out = decideAllocation(view([blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })], [resource("res-1", { status: "released" })]));
    expect(out.decision.kind).toBe("wait");
    expect(candidate(out, "resource", "res-1")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "is released" })]);
  });

  it("chooses the lowest free slot of a resource", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-1", { leaseSlots: 3, usedSlots: [0, 2] })]));
    expect(out.decision).toEqual({ kind: "acquire", resourceId: "res-1", blueprintId: "bp-1", slot: 1 });
  });

  it("takes the first buildable blueprint in id order, skipping those at their limit", () => {
    const out = decideAllocation(
      view([blueprint("bp-c"), blueprint("bp-a", { resourceLimit: 1, usedLimitSlots: [0] }), blueprint("bp-b")]),
    );
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-b" });
    expect(candidate(out, "blueprint", "bp-a")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "at its limit of 1 resources" })]);
  });
});

/* ------------------------------------------------------------------ ranking and determinism */

describe("decideAllocation: ranking is deterministic", () => {
  it("prefers the least loaded resource", () => {
    const out = decideAllocation(
      view([blueprint("bp-1")], [resource("res-a", { leaseSlots: 2, liveLeases: 1 }), resource("res-b", { leaseSlots: 4, liveLeases: 1 })]),
    );
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-b" });
  });

  it("prefers an active resource to a pending one at equal load", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-a", { status: "pending" }), resource("res-b", { status: "active" })]));
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-b" });
  });

  it("then prefers the lowest id", () => {
    const out = decideAllocation(view([blueprint("bp-1")], [resource("res-b"), resource("res-a"), resource("res-c")]));
    expect(out.decision).toMatchObject({ kind: "acquire", resourceId: "res-a" });
    // The others are recorded as ranked below the chosen one.
    expect(candidate(out, "resource", "res-b")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "another candidate ranked first" })]);
    expect(candidate(out, "resource", "res-c")).toEqual([expect.objectContaining({ outcome: "skipped", reason: "another candidate ranked first" })]);
  });

  const scenarios: Record<string, () => AllocationView> = {
    acquire: () =>
      view(
        [blueprint("bp-1"), blueprint("bp-2"), blueprint("bp-3", { ever: no("too small") })],
        [
          resource("res-1", { leaseSlots: 4, liveLeases: 2 }),
          resource("res-2", { blueprintId: "bp-2", leaseSlots: 4, liveLeases: 2, status: "pending" }),
          resource("res-3", { blueprintId: "bp-2", leaseSlots: 4, liveLeases: 2 }),
          resource("res-4", { acquire: no("wrong region") }),
        ],
      ),
    allocate: () =>
      view(
        [blueprint("bp-2", { resourceLimit: 2, usedLimitSlots: [1] }), blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })],
        [
          resource("res-1", { leaseSlots: 2, liveLeases: 2 }),
          resource("res-2", { blueprintId: "bp-2", liveLeases: 1, supplemental: true }),
          resource("res-3", { acquire: no("wrong region") }),
        ],
      ),
    shared: () =>
      view(
        [blueprint("bp-2", { resourceLimit: 1, usedLimitSlots: [0] }), blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] })],
        [
          resource("res-1", { leaseSlots: 4, liveLeases: 2, supplemental: true }),
          resource("res-2", { blueprintId: "bp-2", leaseSlots: 2, liveLeases: 1, supplemental: true }),
          resource("res-3", { blueprintId: "bp-2", leaseSlots: 2, liveLeases: 1, supplemental: true }),
          resource("res-4", { liveLeases: 1, leaseSlots: 1 }),
        ],
      ),
    reclaim: () =>
      view(
        [blueprint("bp-1", { resourceLimit: 3, usedLimitSlots: [0, 1, 2] }), blueprint("bp-2", { plan: no("quota exhausted") })],
        [
          // Two resources idle since the same moment: the tie must not depend on input order.
          resource("res-b", { acquire: no("wrong size"), idleSince: ago(2 * RECLAIM_IDLE_MS) }),
          resource("res-a", { blueprintId: "bp-2", acquire: no("wrong size"), idleSince: ago(2 * RECLAIM_IDLE_MS) }),
          resource("res-c", { acquire: no("wrong size"), idleSince: ago(RECLAIM_IDLE_MS) }),
          resource("res-d", { liveLeases: 1, leaseSlots: 1 }),
        ],
      ),
    wait: () =>
      view(
        [blueprint("bp-1", { resourceLimit: 1, usedLimitSlots: [0] }), blueprint("bp-2", { enabled: false }), blueprint("bp-3", { plan: no("quota exhausted") })],
        [resource("res-1", { leaseSlots: 1, liveLeases: 1 }), resource("res-2", { acquire: no("wrong size") }), resource("res-3", { blueprintId: "bp-2" })],
      ),
  };

  for (const [name, make] of Object.entries(scenarios)) {
    it(`${name}: the same view twice gives the same outcome`, () => {
      const v = make();
      const first = decideAllocation(v);
      expect(first.decision.kind).toBe(name === "shared" ? "acquire" : name);
      expect(decideAllocation(v)).toEqual(first);
      expect(decideAllocation(make())).toEqual(first);
    });

    it(`${name}: shuffling the input arrays gives the same outcome`, () => {
      const v = make();
      const expected = decideAllocation(v);
      for (const blueprints of permutations(v.blueprints)) {
        for (const resources of permutations(v.resources)) {
          const out = decideAllocation({ ...v, blueprints, resources });
          expect(out.decision).toEqual(expected.decision);
          expect(out.summary).toBe(expected.summary);
          expect(out.candidates).toEqual(expected.candidates);
        }
      }
    });

    it(`${name}: every considered candidate appears with an outcome and a reason`, () => {
      const v = make();
      const out = decideAllocation(v);
      for (const c of out.candidates) {
        expect(candidateSchema.safeParse(c).success).toBe(true);
        expect(c.reason.length).toBeGreaterThan(0);
      }
      // Every blueprint that was ruled out says why.
      const usable = v.blueprints.filter((b) => b.ever.ok && b.blueprint.enabled && (!v.lease.blueprintIds || v.lease.blueprintIds.includes(b.blueprint.blueprintId)));
      for (const b of v.blueprints) {
        if (!usable.includes(b)) expect(candidate(out, "blueprint", b.blueprint.blueprintId)).toEqual([expect.objectContaining({ outcome: "skipped" })]);
      }
      // Every resource of a usable blueprint was looked at and appears.
      const usableIds = new Set(usable.map((b) => b.blueprint.blueprintId));
      for (const r of v.resources) {
        if (usableIds.has(r.resource.blueprintId)) expect(candidate(out, "resource", r.resource.resourceId).length).toBeGreaterThan(0);
      }
      // Exactly one candidate is chosen when the decision picks something, and it is the one decided.
      const chosen = out.candidates.filter((c) => c.outcome === "chosen");
      const d = out.decision;
      if (d.kind === "acquire" || d.kind === "reclaim") expect(chosen).toEqual([expect.objectContaining({ kind: "resource", id: d.resourceId, blueprintId: d.blueprintId })]);
      else if (d.kind === "allocate") expect(chosen).toEqual([expect.objectContaining({ kind: "blueprint", id: d.blueprintId })]);
      else {
        expect(chosen).toEqual([]);
        // When waiting, every usable blueprint says why it could not build.
        for (const b of usable) expect(candidate(out, "blueprint", b.blueprint.blueprintId)).toEqual([expect.objectContaining({ outcome: "skipped" })]);
      }
    });
  }

  it("reclaim ties on idleSince go to the lowest resource id", () => {
    const out = decideAllocation(scenarios.reclaim!());
    expect(out.decision).toEqual({ kind: "reclaim", resourceId: "res-a", blueprintId: "bp-2" });
  });

  it("records a shared resource passed over for a build as skipped", () => {
    const out = decideAllocation(scenarios.allocate!());
    expect(out.decision).toMatchObject({ kind: "allocate", blueprintId: "bp-2", limitSlot: 0 });
    expect(candidate(out, "resource", "res-2")).toEqual([expect.objectContaining({ outcome: "skipped" })]);
  });
});

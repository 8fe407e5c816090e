import { describe, expect, it } from "vitest";
import { transition } from "xstate";
import { leaseEventSchemas, type LeaseEventType } from "../../events/lease-events";
import { leaseFolder } from "../../src/machines/fold";
import { leaseMachine, type LeaseMachineEvent, type LeaseStatus } from "../../src/machines/lease-machine";
import { describeMachineContract } from "../support/machine-contract";
import { machineHarness, type TransitionTable } from "../support/machine-harness";
import { leaseSampleEvents } from "../support/machine-events";

/** The legal transitions of a lease: a missing event type is refused in that state (see TransitionTable). */
const TRANSITIONS: TransitionTable<LeaseStatus, LeaseEventType> = {
  new: {
    LeaseRequested: "pending",
  },
  pending: {
    AllocationAttempted: "pending",
    LeaseWaiting: "pending",
    LeaseYielded: "pending",
    LeaseRenewed: "pending",
    LeaseQuotaChanged: "pending",
    LeaseAcquired: "acquired",
    LeaseReleased: "released",
    LeaseBroken: "broken",
  },
  acquired: {
    LeaseWaiting: "acquired",
    LeaseYielded: "acquired",
    LeaseRenewed: "acquired",
    LeaseActivated: "active",
    LeaseReacquiring: "pending",
    LeaseReleased: "released",
    LeaseBroken: "broken",
  },
  active: {
    LeaseRenewed: "active",
    LeaseReacquiring: "pending",
    LeaseReleased: "released",
    LeaseBroken: "broken",
  },
  released: {
    LeaseDestroyed: "destroyed",
  },
  broken: {
    LeaseDestroyed: "destroyed",
  },
  destroyed: {},
};

const lease = machineHarness({
  name: "lease",
  machine: leaseMachine,
  folder: leaseFolder,
  streamId: "lease-lease-1",
  states: ["new", "pending", "acquired", "active", "released", "broken", "destroyed"],
  eventSchemas: leaseEventSchemas,
  samples: leaseSampleEvents,
});
const { ev, fold, run } = lease;

describeMachineContract({
  harness: lease,
  transitions: TRANSITIONS,
  shortestPaths: {
    new: [],
    pending: ["LeaseRequested"],
    acquired: ["LeaseRequested", "LeaseAcquired"],
    active: ["LeaseRequested", "LeaseAcquired", "LeaseActivated"],
    released: ["LeaseRequested", "LeaseReleased"],
    broken: ["LeaseRequested", "LeaseBroken"],
    destroyed: ["LeaseRequested", "LeaseReleased", "LeaseDestroyed"],
  },
  // the only cycle (reacquire) is walked by "a lease can cycle pending -> acquired -> pending" below
  cycle: { to: "pending", edges: ["acquired --LeaseReacquiring--> pending", "active --LeaseReacquiring--> pending"] },
  refusals: [
    [[ev("LeaseAcquired")], 1, "LeaseAcquired", "new"],
    [[ev("LeaseRequested"), ev("LeaseRequested")], 2, "LeaseRequested", "pending"],
    [[ev("LeaseRequested"), ev("LeaseReacquiring")], 2, "LeaseReacquiring", "pending"],
    [[ev("LeaseRequested"), ev("LeaseReleased"), ev("LeaseReleased")], 3, "LeaseReleased", "released"],
    [[ev("LeaseRequested"), ev("LeaseBroken"), ev("LeaseDestroyed"), ev("LeaseRenewed")], 4, "LeaseRenewed", "destroyed"],
  ],
});

describe("lease sample events", () => {
  it("cover both ends of LeaseReleased: requested and expired", () => {
    expect(leaseSampleEvents.filter((e) => e.type === "LeaseReleased").map((e) => e.data)).toEqual([
      { reason: "requested", detail: null },
      { reason: "expired", detail: null },
    ]);
  });
});

describe("lease machine graph", () => {
  it("spot checks a reviewer cares about", () => {
    const nodes = lease.snapshotsByState();
    const can = (status: LeaseStatus, e: LeaseMachineEvent) => nodes.get(status)!.state.can(e);
    const next = (status: LeaseStatus, e: LeaseMachineEvent) => transition(leaseMachine, nodes.get(status)!.state, e)[0].value;

    expect(next("pending", ev("LeaseAcquired"))).toBe("acquired");
    expect(next("acquired", ev("LeaseReacquiring"))).toBe("pending");
    // Legal from active: the allocator appends it only for blueprints whose leases move (working copies).
    expect(next("active", ev("LeaseReacquiring"))).toBe("pending");
    expect(can("released", ev("LeaseReleased"))).toBe(false);
    expect(can("active", ev("LeaseAcquired"))).toBe(false);
    expect(leaseSampleEvents.filter((e) => can("destroyed", e))).toEqual([]);
    expect(leaseSampleEvents.filter((e) => can("new", e)).map((e) => e.type)).toEqual(["LeaseRequested"]);
    for (const s of ["released", "broken"] as const) {
      expect(leaseSampleEvents.filter((e) => can(s, e)).map((e) => e.type)).toEqual(["LeaseDestroyed"]);
    }
    expect(nodes.get("destroyed")!.state.status).toBe("done");
  });
});

describe("lease transitions, edge by edge", () => {
  it("a lease can cycle pending -> acquired -> pending any number of times", () => {
    const cycle = [ev("LeaseAcquired"), ev("LeaseReacquiring")];
    const events = [ev("LeaseRequested"), ...cycle, ...cycle, ...cycle, ev("LeaseAcquired"), ev("LeaseActivated")];
    const folded = fold(events);
    expect(folded.status).toBe("active");
    expect(folded.version).toBe(events.length);
  });
});

describe("lease context", () => {
  const requested = ev("LeaseRequested");
  const acquired = ev("LeaseAcquired");

  it("LeaseRequested records the request", () => {
    const { status, context } = fold([requested]);
    expect(status).toBe("pending");
    expect(context).toMatchObject({
      leaseId: "lease-1",
      resourceType: "host",
      attributes: requested.data.attributes,
      blueprintIds: requested.data.blueprintIds,
      owner: "alice",
      ownerResourceId: null,
      expiresAt: requested.data.expiresAt,
      requestedAt: requested.at,
      resourceId: null,
      blueprintId: null,
    });
  });

  it("LeaseAcquired sets resourceId and blueprintId", () => {
    const { status, context } = fold([requested, ev("LeaseYielded"), acquired]);
    expect(status).toBe("acquired");
    expect(context).toMatchObject({
      resourceId: "res-1",
      blueprintId: "bp-1",
      acquiredAt: acquired.at,
      failures: 0,
      retryAt: null,
      waitReason: null,
    });
  });

  it("LeaseReacquiring clears the resource and returns to pending", () => {
    const { status, context } = fold([requested, acquired, ev("LeaseReacquiring")]);
    expect(status).toBe("pending");
    expect(context).toMatchObject({ resourceId: null, blueprintId: null, acquiredAt: null, retryAt: null, waitReason: null });
    // and it can be acquired again
    expect(fold([requested, acquired, ev("LeaseReacquiring"), acquired]).context.resourceId).toBe("res-1");
  });

  it("LeaseReacquiring from active also forgets where it ran, and keeps its TTL", () => {
    const activated = ev("LeaseActivated");
    const before = fold([requested, acquired, activated]);
    expect(before.context).toMatchObject({ workingDirectory: expect.any(String), activatedAt: expect.any(String) });
    const { status, context } = fold([requested, acquired, activated, ev("LeaseReacquiring")]);
    expect(status).toBe("pending");
    expect(context).toMatchObject({ resourceId: null, workingDirectory: null, activatedAt: null, reacquires: 1, expiresAt: before.context.expiresAt });
  });

  it("LeaseReleased with reason expired ends with endReason expired", () => {
    const expired = leaseSampleEvents.find((e) => e.type === "LeaseReleased" && e.data.reason === "expired")!;
    const { status, context } = fold([requested, acquired, ev("LeaseActivated"), expired]);
    expect(status).toBe("released");
    expect(context.endReason).toBe("expired");
    expect(context.endedAt).toBe(expired.at);
  });

  it("LeaseReleased appends its detail to the reason", () => {
    const released: LeaseMachineEvent = { type: "LeaseReleased", at: "2024-05-01T10:05:00.000Z", data: { reason: "owner-ended", detail: "owner gone" } };
    expect(fold([requested, released]).context.endReason).toBe("owner-ended: owner gone");
  });

  it("LeaseRenewed changes expiresAt", () => {
    const renewed = ev("LeaseRenewed");
    expect(renewed.data.expiresAt).not.toBe(requested.data.expiresAt);
    for (const before of [[requested], [requested, acquired], [requested, acquired, ev("LeaseActivated")]]) {
      expect(fold([...before, renewed]).context.expiresAt).toBe(renewed.data.expiresAt);
    }
  });

  it("waiting, yielding and attempts are counted and reset on progress", () => {
    const waited = fold([requested, ev("AllocationAttempted"), ev("LeaseWaiting"), ev("AllocationAttempted"), ev("LeaseYielded")]);
    expect(waited.context).toMatchObject({
      attempts: 2,
      failures: 1,
      retryAt: ev("LeaseYielded").data.retryAt,
      waitReason: ev("LeaseYielded").data.reason,
    });
    const activated = fold([requested, acquired, ev("LeaseYielded"), ev("LeaseActivated")]);
    expect(activated.context).toMatchObject({
      failures: 0,
      retryAt: null,
      waitReason: null,
      workingDirectory: "/srv/work/lease-1",
      activatedAt: ev("LeaseActivated").at,
    });
  });

  it("LeaseBroken records the reason; LeaseDestroyed keeps it", () => {
    const broken = fold([requested, ev("LeaseBroken")]);
    expect(broken.context).toMatchObject({ endReason: "activation failed", endedAt: ev("LeaseBroken").at });
    const destroyed = fold([requested, ev("LeaseBroken"), ev("LeaseDestroyed")]);
    expect(destroyed.status).toBe("destroyed");
    expect(destroyed.context.endReason).toBe("activation failed");
  });

  it("the machine and the fold agree on a direct run", () => {
    const events = [requested, ev("AllocationAttempted"), acquired, ev("LeaseActivated"), ev("LeaseRenewed")];
    const snap = run(events);
    expect(fold(events)).toEqual({ status: snap.value, context: snap.context, version: events.length });
  });
});

describe("lease TTL in the context (src/domain/lease-ttl.ts)", () => {
  const requested = ev("LeaseRequested");
  const acquired = ev("LeaseAcquired");
  const fromService: LeaseMachineEvent = { ...requested, data: { ...requested.data, ttlSeconds: 3600, expiresAt: "2024-05-01T11:00:00.000Z", ttlSource: "service" } };
  const withBlueprintTtl: LeaseMachineEvent = {
    ...acquired,
    data: { ...acquired.data, blueprintTtl: { ttlSeconds: 600, expiresAt: "2024-05-01T10:10:04.000Z" } },
  };

  it("every variant is valid per its schema", () => {
    for (const e of [fromService, withBlueprintTtl]) expect(leaseEventSchemas[e.type].safeParse(e.data).success).toBe(true);
  });

  it("a LeaseRequested without ttlSource (recorded before default TTLs) reads as the request's TTL", () => {
    expect("ttlSource" in requested.data).toBe(false);
    expect(fold([requested]).context).toMatchObject({ ttlSeconds: 3600, ttlSource: "request", expiresAt: requested.data.expiresAt });
    expect(fold([fromService]).context).toMatchObject({ ttlSeconds: 3600, ttlSource: "service" });
  });

  it("LeaseAcquired's blueprintTtl replaces the TTL and the expiry; without it they stay", () => {
    expect(fold([fromService, withBlueprintTtl]).context).toMatchObject({ ttlSeconds: 600, ttlSource: "blueprint", expiresAt: "2024-05-01T10:10:04.000Z" });
    expect(fold([fromService, acquired]).context).toMatchObject({ ttlSeconds: 3600, ttlSource: "service", expiresAt: "2024-05-01T11:00:00.000Z" });
  });

  it("LeaseRenewed sets the TTL, and says it came from a renewal", () => {
    const renewed = ev("LeaseRenewed");
    expect(fold([fromService, withBlueprintTtl, ev("LeaseActivated"), renewed]).context).toMatchObject({
      ttlSeconds: renewed.data.ttlSeconds,
      ttlSource: "renewal",
      expiresAt: renewed.data.expiresAt,
    });
  });

  it("the machine and the fold agree with the TTL variants, reacquisition included", () => {
    const events = [fromService, withBlueprintTtl, ev("LeaseReacquiring"), acquired, ev("LeaseActivated"), ev("LeaseRenewed")];
    for (let n = 1; n <= events.length; n++) {
      const snap = run(events.slice(0, n));
      expect(fold(events.slice(0, n))).toEqual({ status: snap.value, context: snap.context, version: n });
    }
  });
});

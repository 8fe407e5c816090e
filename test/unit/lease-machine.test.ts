import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import { createTestModel, getAdjacencyMap, getShortestPaths, getSimplePaths } from "xstate/graph";
import { leaseEventSchemas, type LeaseEventType } from "../../events/lease-events";
import { IllegalTransitionError, leaseFolder } from "../../src/machines/fold";
import { leaseMachine, type LeaseMachineEvent, type LeaseStatus } from "../../src/machines/lease-machine";
import { byStateValue, leaseSampleEvents, pathEdges, pathEvents, sampleOf, toRecordedEvents } from "../support/machine-events";

const STREAM = "lease-lease-1";
const STATES: LeaseStatus[] = ["new", "pending", "acquired", "active", "released", "broken", "destroyed"];
const EVENT_TYPES = Object.keys(leaseEventSchemas) as LeaseEventType[];

/**
 * The legal transitions of a lease: state -> event type -> next state. An event type missing from
 * a row is refused in that state (`snapshot.can(event)` is false and the fold throws).
 */
const TRANSITIONS: Record<LeaseStatus, Partial<Record<LeaseEventType, LeaseStatus>>> = {
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

const graphOptions = { events: leaseSampleEvents, serializeState: byStateValue };

/** A snapshot in every reachable state, keyed by status. */
function snapshotsByState() {
  const adjacency = getAdjacencyMap(leaseMachine, graphOptions);
  return new Map(Object.values(adjacency).map((node) => [node.state.value as LeaseStatus, node]));
}

/** The events of the shortest path from `new` to `status`. */
function shortestEventsTo(status: LeaseStatus): LeaseMachineEvent[] {
  const path = getShortestPaths(leaseMachine, { ...graphOptions, toState: (s) => s.value === status }).find(
    (p) => p.state.value === status,
  );
  if (!path) throw new Error(`${status} is unreachable`);
  return pathEvents(path);
}

const ev = <T extends LeaseEventType>(type: T) => sampleOf(leaseSampleEvents, type);

function fold(events: readonly LeaseMachineEvent[]) {
  return leaseFolder.fold(toRecordedEvents(STREAM, events)).state;
}

/** Run events through the machine directly (no fold), refusing nothing. */
function run(events: readonly LeaseMachineEvent[]) {
  let [snap] = initialTransition(leaseMachine);
  for (const e of events) [snap] = transition(leaseMachine, snap, e);
  return snap;
}

describe("lease sample events", () => {
  it("cover every lease event type", () => {
    expect(new Set(leaseSampleEvents.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
    expect(leaseSampleEvents.filter((e) => e.type === "LeaseReleased").map((e) => e.data)).toEqual([
      { reason: "requested", detail: null },
      { reason: "expired", detail: null },
    ]);
  });

  it.each(leaseSampleEvents.map((e, i) => [`${i}:${e.type}`, e] as const))("%s matches its schema", (_, e) => {
    expect(() => leaseEventSchemas[e.type].parse(e.data)).not.toThrow();
    expect(leaseEventSchemas[e.type].parse(e.data)).toEqual(e.data);
    expect(new Date(e.at).toISOString()).toBe(e.at);
  });

  it("the table lists only known states and event types", () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATES].sort());
    for (const row of Object.values(TRANSITIONS)) {
      for (const [type, target] of Object.entries(row)) {
        expect(EVENT_TYPES).toContain(type);
        expect(STATES).toContain(target);
      }
    }
  });
});

describe("lease machine graph", () => {
  it("reaches exactly the documented states (simple paths)", () => {
    const paths = getSimplePaths(leaseMachine, graphOptions);
    expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(STATES));
  });

  it("reaches exactly the documented states (shortest paths)", () => {
    const paths = getShortestPaths(leaseMachine, graphOptions);
    const shortest = Object.fromEntries(paths.map((p) => [p.state.value as string, pathEvents(p).map((e) => e.type)]));
    expect(shortest).toEqual({
      new: [],
      pending: ["LeaseRequested"],
      acquired: ["LeaseRequested", "LeaseAcquired"],
      active: ["LeaseRequested", "LeaseAcquired", "LeaseActivated"],
      released: ["LeaseRequested", "LeaseReleased"],
      broken: ["LeaseRequested", "LeaseBroken"],
      destroyed: ["LeaseRequested", "LeaseReleased", "LeaseDestroyed"],
    });
  });

  it("has exactly the documented transition table", () => {
    const nodes = snapshotsByState();
    expect(new Set(nodes.keys())).toEqual(new Set(STATES));

    const actual: Record<string, Record<string, string>> = {};
    for (const [status, node] of nodes) {
      const row: Record<string, string> = {};
      for (const e of leaseSampleEvents) {
        const [next] = transition(leaseMachine, node.state, e);
        // the graph's own adjacency agrees with a direct transition
        const edges = Object.values(node.transitions) as { event: LeaseMachineEvent; state: typeof next }[];
        expect(edges.find((t) => t.event === e)?.state.value).toBe(next.value);
        if (node.state.can(e)) {
          if (e.type in row) expect(row[e.type]).toBe(next.value); // every sample of a type agrees
          row[e.type] = next.value as string;
        } else {
          // a refused event changes nothing
          expect(next.value).toBe(status);
          expect(next.context).toEqual(node.state.context);
        }
      }
      actual[status] = row;
    }
    expect(actual).toEqual(TRANSITIONS);
  });

  it("spot checks a reviewer cares about", () => {
    const nodes = snapshotsByState();
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

  it("simple paths walk every state-changing transition except the cycle back to pending", () => {
    const walked = new Set(getSimplePaths(leaseMachine, graphOptions).flatMap(pathEdges));
    const expected = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
      Object.entries(row)
        .filter(([, to]) => to !== from)
        .map(([type, to]) => `${from} --${type}--> ${to}`),
    );
    // a simple path never revisits a state, so the only cycle (reacquire) is walked separately below
    const cycle = ["acquired --LeaseReacquiring--> pending", "active --LeaseReacquiring--> pending"];
    expect([...walked].sort()).toEqual(expected.filter((e) => !cycle.includes(e)).sort());
  });
});

describe("lease fold agrees with the machine", () => {
  const paths = getSimplePaths(leaseMachine, graphOptions);

  it.each(paths.map((p) => [pathEvents(p).map((e) => e.type).join(" > ") || "(no events)", p] as const))(
    "%s",
    (_, path) => {
      const events = pathEvents(path);
      const folded = fold(events);
      expect(folded.status).toBe(path.state.value);
      expect(folded.version).toBe(events.length);
      // path.state is keyed by state value only, so its context may come from another path:
      // compare the context with a direct run of the same events instead
      expect(folded.context).toEqual(run(events).context);
    },
  );

  it("also along each simple path padded with every accepted same-state event", () => {
    for (const path of paths) {
      const events: LeaseMachineEvent[] = [];
      let [snap] = initialTransition(leaseMachine);
      const pad = () => {
        for (const e of leaseSampleEvents) {
          if (TRANSITIONS[snap.value as LeaseStatus][e.type] === snap.value && snap.can(e)) {
            events.push(e);
            [snap] = transition(leaseMachine, snap, e);
          }
        }
      };
      for (const e of pathEvents(path)) {
        pad();
        events.push(e);
        [snap] = transition(leaseMachine, snap, e);
      }
      pad();
      const folded = fold(events);
      expect(folded.status).toBe(path.state.value);
      expect(folded.status).toBe(snap.value);
      expect(folded.context).toEqual(snap.context);
      expect(folded.version).toBe(events.length);
    }
  });

  it("the fold, as a system under test, passes every test-model path", async () => {
    const model = createTestModel(leaseMachine, graphOptions);
    const testPaths = model.getSimplePaths();
    expect(testPaths.length).toBeGreaterThan(0);
    const checked = new Set<string>();
    for (const path of testPaths) {
      const log: LeaseMachineEvent[] = [];
      await path.test({
        states: Object.fromEntries(
          STATES.map((s) => [s, () => void (expect(fold(log).status).toBe(s), checked.add(s))] as const),
        ),
        events: Object.fromEntries(
          EVENT_TYPES.map((t) => [t, ({ event }: { event: { type: string } }) => void log.push(event as LeaseMachineEvent)]),
        ),
      });
    }
    expect(checked).toEqual(new Set(STATES));
  });
});

describe("lease transitions, edge by edge", () => {
  const cells = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
    Object.entries(row).map(([type, to]) => [from as LeaseStatus, type as LeaseEventType, to] as const),
  );

  it.each(cells)("%s + %s -> %s (machine and fold)", (from, type, to) => {
    const prefix = shortestEventsTo(from);
    for (const e of leaseSampleEvents.filter((x) => x.type === type)) {
      const snap = run([...prefix, e]);
      expect(snap.value).toBe(to);
      const folded = fold([...prefix, e]);
      expect(folded.status).toBe(to);
      expect(folded.context).toEqual(snap.context);
    }
  });

  it("a lease can cycle pending -> acquired -> pending any number of times", () => {
    const cycle = [ev("LeaseAcquired"), ev("LeaseReacquiring")];
    const events = [ev("LeaseRequested"), ...cycle, ...cycle, ...cycle, ev("LeaseAcquired"), ev("LeaseActivated")];
    const folded = fold(events);
    expect(folded.status).toBe("active");
    expect(folded.version).toBe(events.length);
  });
});

describe("lease fold refuses illegal events", () => {
  it.each([
    [[ev("LeaseAcquired")], 1, "LeaseAcquired", "new"],
    [[ev("LeaseRequested"), ev("LeaseRequested")], 2, "LeaseRequested", "pending"],
    [[ev("LeaseRequested"), ev("LeaseReacquiring")], 2, "LeaseReacquiring", "pending"],
    [[ev("LeaseRequested"), ev("LeaseReleased"), ev("LeaseReleased")], 3, "LeaseReleased", "released"],
    [[ev("LeaseRequested"), ev("LeaseBroken"), ev("LeaseDestroyed"), ev("LeaseRenewed")], 4, "LeaseRenewed", "destroyed"],
  ] as const)("%#: throws naming stream, version, event and status", (events, version, type, status) => {
    let error: unknown;
    try {
      fold(events);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IllegalTransitionError);
    const err = error as IllegalTransitionError;
    expect(err).toMatchObject({ streamId: STREAM, streamVersion: version, eventType: type, status });
    expect(err.message).toBe(`${STREAM}@${version}: ${type} is not allowed when ${status}`);
  });

  it("every refused cell of the table throws", () => {
    const nodes = snapshotsByState();
    for (const status of STATES) {
      const prefix = shortestEventsTo(status);
      expect(nodes.has(status)).toBe(true);
      for (const e of leaseSampleEvents) {
        if (e.type in TRANSITIONS[status]) continue;
        expect(() => fold([...prefix, e])).toThrow(
          new IllegalTransitionError(STREAM, prefix.length + 1, e.type, status).message,
        );
      }
    }
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

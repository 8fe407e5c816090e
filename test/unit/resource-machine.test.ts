import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import { createTestModel, getAdjacencyMap, getShortestPaths, getSimplePaths } from "xstate/graph";
import { resourceEventSchemas, type ResourceEventType } from "../../events/resource-events";
import { IllegalTransitionError, resourceFolder } from "../../src/machines/fold";
import { resourceMachine, type ResourceMachineEvent, type ResourceStatus } from "../../src/machines/resource-machine";
import { byStateValue, pathEdges, pathEvents, resourceSampleEvents, sampleOf, toRecordedEvents } from "../support/machine-events";

const STREAM = "resource-res-1";
const STATES: ResourceStatus[] = ["new", "pending", "active", "released", "broken", "destroyed"];
const EVENT_TYPES = Object.keys(resourceEventSchemas) as ResourceEventType[];

/**
 * The legal transitions of a resource: state -> event type -> next state. An event type missing
 * from a row is refused in that state (`snapshot.can(event)` is false and the fold throws).
 */
const TRANSITIONS: Record<ResourceStatus, Partial<Record<ResourceEventType, ResourceStatus>>> = {
  new: {
    ResourceAllocated: "pending",
  },
  pending: {
    ResourceActivationYielded: "pending",
    ResourceActivated: "active",
    ResourceReleased: "released",
    ResourceBroken: "broken",
    ResourceHeld: "pending",
    ResourceHoldReleased: "pending",
  },
  active: {
    ResourceSuspected: "active",
    ResourceRecovered: "active",
    ResourceReleased: "released",
    ResourceBroken: "broken",
    ResourceHeld: "active",
    ResourceHoldReleased: "active",
  },
  // A hold is context, not a status: an ended resource may be held (its destroy then waits).
  released: {
    ResourceDestroyed: "destroyed",
    ResourceHeld: "released",
    ResourceHoldReleased: "released",
    ResourceDestroyDeferred: "released",
  },
  broken: {
    ResourceDestroyed: "destroyed",
    ResourceHeld: "broken",
    ResourceHoldReleased: "broken",
    ResourceDestroyDeferred: "broken",
  },
  destroyed: {},
};

const graphOptions = { events: resourceSampleEvents, serializeState: byStateValue };

/** A snapshot in every reachable state, keyed by status. */
function snapshotsByState() {
  const adjacency = getAdjacencyMap(resourceMachine, graphOptions);
  return new Map(Object.values(adjacency).map((node) => [node.state.value as ResourceStatus, node]));
}

/** The events of the shortest path from `new` to `status`. */
function shortestEventsTo(status: ResourceStatus): ResourceMachineEvent[] {
  const path = getShortestPaths(resourceMachine, { ...graphOptions, toState: (s) => s.value === status }).find(
    (p) => p.state.value === status,
  );
  if (!path) throw new Error(`${status} is unreachable`);
  return pathEvents(path);
}

const ev = <T extends ResourceEventType>(type: T) => sampleOf(resourceSampleEvents, type);

function fold(events: readonly ResourceMachineEvent[]) {
  return resourceFolder.fold(toRecordedEvents(STREAM, events)).state;
}

/** Run events through the machine directly (no fold), refusing nothing. */
function run(events: readonly ResourceMachineEvent[]) {
  let [snap] = initialTransition(resourceMachine);
  for (const e of events) [snap] = transition(resourceMachine, snap, e);
  return snap;
}

describe("resource sample events", () => {
  it("cover every resource event type", () => {
    expect(new Set(resourceSampleEvents.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
  });

  it.each(resourceSampleEvents.map((e, i) => [`${i}:${e.type}`, e] as const))("%s matches its schema", (_, e) => {
    expect(resourceEventSchemas[e.type].parse(e.data)).toEqual(e.data);
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

describe("resource machine graph", () => {
  it("reaches exactly the documented states (simple paths)", () => {
    const paths = getSimplePaths(resourceMachine, graphOptions);
    expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(STATES));
  });

  it("reaches exactly the documented states (shortest paths)", () => {
    const paths = getShortestPaths(resourceMachine, graphOptions);
    const shortest = Object.fromEntries(paths.map((p) => [p.state.value as string, pathEvents(p).map((e) => e.type)]));
    expect(shortest).toEqual({
      new: [],
      pending: ["ResourceAllocated"],
      active: ["ResourceAllocated", "ResourceActivated"],
      released: ["ResourceAllocated", "ResourceReleased"],
      broken: ["ResourceAllocated", "ResourceBroken"],
      destroyed: ["ResourceAllocated", "ResourceReleased", "ResourceDestroyed"],
    });
  });

  it("has exactly the documented transition table", () => {
    const nodes = snapshotsByState();
    expect(new Set(nodes.keys())).toEqual(new Set(STATES));

    const actual: Record<string, Record<string, string>> = {};
    for (const [status, node] of nodes) {
      const row: Record<string, string> = {};
      for (const e of resourceSampleEvents) {
        const [next] = transition(resourceMachine, node.state, e);
        const edges = Object.values(node.transitions) as { event: ResourceMachineEvent; state: typeof next }[];
        expect(edges.find((t) => t.event === e)?.state.value).toBe(next.value);
        if (node.state.can(e)) {
          row[e.type] = next.value as string;
        } else {
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
    const accepted = (status: ResourceStatus) =>
      resourceSampleEvents.filter((e) => nodes.get(status)!.state.can(e)).map((e) => e.type);
    expect(accepted("new")).toEqual(["ResourceAllocated"]);
    // Only an active resource is suspect: a pending one's activation reports its own failures.
    expect(accepted("active")).toEqual(["ResourceReleased", "ResourceBroken", "ResourceSuspected", "ResourceRecovered", "ResourceHeld", "ResourceHoldReleased"]);
    // Only an ended resource's destroy waits for a hold.
    expect(accepted("released")).toEqual(["ResourceDestroyed", "ResourceHeld", "ResourceHoldReleased", "ResourceDestroyDeferred"]);
    expect(accepted("broken")).toEqual(["ResourceDestroyed", "ResourceHeld", "ResourceHoldReleased", "ResourceDestroyDeferred"]);
    expect(accepted("destroyed")).toEqual([]);
    expect(nodes.get("destroyed")!.state.status).toBe("done");
  });

  it("simple paths walk every state-changing transition", () => {
    const walked = new Set(getSimplePaths(resourceMachine, graphOptions).flatMap(pathEdges));
    const expected = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
      Object.entries(row)
        .filter(([, to]) => to !== from)
        .map(([type, to]) => `${from} --${type}--> ${to}`),
    );
    expect([...walked].sort()).toEqual(expected.sort());
  });
});

describe("resource fold agrees with the machine", () => {
  const paths = getSimplePaths(resourceMachine, graphOptions);

  it.each(paths.map((p) => [pathEvents(p).map((e) => e.type).join(" > ") || "(no events)", p] as const))(
    "%s",
    (_, path) => {
      const events = pathEvents(path);
      const folded = fold(events);
      expect(folded.status).toBe(path.state.value);
      expect(folded.version).toBe(events.length);
      expect(folded.context).toEqual(run(events).context);
    },
  );

  it("also along each simple path padded with every accepted same-state event", () => {
    for (const path of paths) {
      const events: ResourceMachineEvent[] = [];
      let [snap] = initialTransition(resourceMachine);
      const pad = () => {
        for (const e of resourceSampleEvents) {
          if (TRANSITIONS[snap.value as ResourceStatus][e.type] === snap.value && snap.can(e)) {
            events.push(e);
            [snap] = transition(resourceMachine, snap, e);
          }
        }
      };
      for (const e of pathEvents(path)) {
        pad();
        events.push(e);
        [snap] = transition(resourceMachine, snap, e);
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
    const model = createTestModel(resourceMachine, graphOptions);
    const testPaths = model.getSimplePaths();
    expect(testPaths.length).toBeGreaterThan(0);
    const checked = new Set<string>();
    for (const path of testPaths) {
      const log: ResourceMachineEvent[] = [];
      await path.test({
        states: Object.fromEntries(
          STATES.map((s) => [s, () => void (expect(fold(log).status).toBe(s), checked.add(s))] as const),
        ),
        events: Object.fromEntries(
          EVENT_TYPES.map((t) => [t, ({ event }: { event: { type: string } }) => void log.push(event as ResourceMachineEvent)]),
        ),
      });
    }
    expect(checked).toEqual(new Set(STATES));
  });
});

describe("resource transitions, edge by edge", () => {
  const cells = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
    Object.entries(row).map(([type, to]) => [from as ResourceStatus, type as ResourceEventType, to] as const),
  );

  it.each(cells)("%s + %s -> %s (machine and fold)", (from, type, to) => {
    const prefix = shortestEventsTo(from);
    const e = ev(type);
    const snap = run([...prefix, e]);
    expect(snap.value).toBe(to);
    const folded = fold([...prefix, e]);
    expect(folded.status).toBe(to);
    expect(folded.context).toEqual(snap.context);
  });
});

describe("resource fold refuses illegal events", () => {
  it.each([
    [[ev("ResourceActivated")], 1, "ResourceActivated", "new"],
    [[ev("ResourceAllocated"), ev("ResourceAllocated")], 2, "ResourceAllocated", "pending"],
    [[ev("ResourceAllocated"), ev("ResourceActivated"), ev("ResourceActivated")], 3, "ResourceActivated", "active"],
    [[ev("ResourceAllocated"), ev("ResourceActivated"), ev("ResourceActivationYielded")], 3, "ResourceActivationYielded", "active"],
    [[ev("ResourceAllocated"), ev("ResourceReleased"), ev("ResourceBroken")], 3, "ResourceBroken", "released"],
    [[ev("ResourceAllocated"), ev("ResourceBroken"), ev("ResourceDestroyed"), ev("ResourceDestroyed")], 4, "ResourceDestroyed", "destroyed"],
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
    for (const status of STATES) {
      const prefix = shortestEventsTo(status);
      for (const e of resourceSampleEvents) {
        if (e.type in TRANSITIONS[status]) continue;
        expect(() => fold([...prefix, e])).toThrow(
          new IllegalTransitionError(STREAM, prefix.length + 1, e.type, status).message,
        );
      }
    }
  });
});

describe("resource context", () => {
  const allocated = ev("ResourceAllocated");

  it("ResourceAllocated records the resource", () => {
    const { status, context } = fold([allocated]);
    expect(status).toBe("pending");
    expect(context).toMatchObject({
      resourceId: "res-1",
      blueprintId: "bp-1",
      resourceType: "host",
      attributes: { region: "eu" },
      leaseSlots: 2,
      forLeaseId: "lease-1",
      allocatedAt: allocated.at,
      activatedAt: null,
    });
  });

  it("ResourceActivated merges attributes (new keys added, existing keys overwritten)", () => {
    const activated = ev("ResourceActivated");
    const { status, context } = fold([allocated, activated]);
    expect(status).toBe("active");
    expect(context.attributes).toEqual({ region: "eu-west", ip: "10.0.0.1" });
    expect(context.activatedAt).toBe(activated.at);
    // the allocation's attributes object is not mutated
    expect(allocated.data.attributes).toEqual({ region: "eu" });
  });

  it("ResourceActivationYielded counts failures; activation resets them", () => {
    const yielded = ev("ResourceActivationYielded");
    const waiting = fold([allocated, yielded, yielded]);
    expect(waiting.status).toBe("pending");
    expect(waiting.context).toMatchObject({ failures: 2, retryAt: yielded.data.retryAt });
    const active = fold([allocated, yielded, ev("ResourceActivated")]);
    expect(active.context).toMatchObject({ failures: 0, retryAt: null });
  });

  it("ResourceReleased and ResourceBroken record why and when it ended", () => {
    const released = fold([allocated, ev("ResourceActivated"), ev("ResourceReleased")]);
    expect(released.context).toMatchObject({ endReason: "idle", endedAt: ev("ResourceReleased").at, retryAt: null });
    const broken = fold([allocated, ev("ResourceActivationYielded"), ev("ResourceBroken")]);
    expect(broken.context).toMatchObject({ endReason: "build failed", endedAt: ev("ResourceBroken").at, retryAt: null });
    const destroyed = fold([allocated, ev("ResourceBroken"), ev("ResourceDestroyed")]);
    expect(destroyed).toMatchObject({ status: "destroyed", version: 3, context: { endReason: "build failed" } });
  });
});

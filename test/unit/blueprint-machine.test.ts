import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import { createTestModel, getAdjacencyMap, getShortestPaths, getSimplePaths } from "xstate/graph";
import { blueprintEventSchemas, type BlueprintEventType } from "../../events/blueprint-events";
import { blueprintMachine, type BlueprintMachineEvent, type BlueprintStatus } from "../../src/machines/blueprint-machine";
import { blueprintFolder, IllegalTransitionError } from "../../src/machines/fold";
import { blueprintSampleEvents, byStateValue, pathEdges, pathEvents, sampleOf, toRecordedEvents } from "../support/machine-events";

const STREAM = "blueprint-bp-1";
const STATES: BlueprintStatus[] = ["new", "enabled", "disabled"];
const EVENT_TYPES = Object.keys(blueprintEventSchemas) as BlueprintEventType[];

/**
 * The legal transitions of a blueprint: state -> event type -> next state. An event type missing
 * from a row is refused in that state (`snapshot.can(event)` is false and the fold throws).
 */
const TRANSITIONS: Record<BlueprintStatus, Partial<Record<BlueprintEventType, BlueprintStatus>>> = {
  new: {
    BlueprintCreated: "enabled",
  },
  enabled: {
    BlueprintUpdated: "enabled",
    BlueprintDisabled: "disabled",
    BlueprintTargetFailed: "enabled",
    BlueprintTargetRecovered: "enabled",
    BlueprintInstanceReaped: "enabled",
  },
  disabled: {
    BlueprintUpdated: "disabled",
    BlueprintEnabled: "enabled",
    BlueprintTargetFailed: "disabled",
    BlueprintTargetRecovered: "disabled",
    BlueprintInstanceReaped: "disabled",
  },
};

const graphOptions = { events: blueprintSampleEvents, serializeState: byStateValue };

/** A snapshot in every reachable state, keyed by status. */
function snapshotsByState() {
  const adjacency = getAdjacencyMap(blueprintMachine, graphOptions);
  return new Map(Object.values(adjacency).map((node) => [node.state.value as BlueprintStatus, node]));
}

/** The events of the shortest path from `new` to `status`. */
function shortestEventsTo(status: BlueprintStatus): BlueprintMachineEvent[] {
  const path = getShortestPaths(blueprintMachine, { ...graphOptions, toState: (s) => s.value === status }).find(
    (p) => p.state.value === status,
  );
  if (!path) throw new Error(`${status} is unreachable`);
  return pathEvents(path);
}

const ev = <T extends BlueprintEventType>(type: T) => sampleOf(blueprintSampleEvents, type);

function fold(events: readonly BlueprintMachineEvent[]) {
  return blueprintFolder.fold(toRecordedEvents(STREAM, events)).state;
}

/** Run events through the machine directly (no fold), refusing nothing. */
function run(events: readonly BlueprintMachineEvent[]) {
  let [snap] = initialTransition(blueprintMachine);
  for (const e of events) [snap] = transition(blueprintMachine, snap, e);
  return snap;
}

describe("blueprint sample events", () => {
  it("cover every blueprint event type", () => {
    expect(new Set(blueprintSampleEvents.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
  });

  it.each(blueprintSampleEvents.map((e, i) => [`${i}:${e.type}`, e] as const))("%s matches its schema", (_, e) => {
    expect(blueprintEventSchemas[e.type].parse(e.data)).toEqual(e.data);
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

describe("blueprint machine graph", () => {
  it("reaches exactly the documented states (simple paths)", () => {
    const paths = getSimplePaths(blueprintMachine, graphOptions);
    expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(STATES));
  });

  it("reaches exactly the documented states (shortest paths)", () => {
    const paths = getShortestPaths(blueprintMachine, graphOptions);
    const shortest = Object.fromEntries(paths.map((p) => [p.state.value as string, pathEvents(p).map((e) => e.type)]));
    expect(shortest).toEqual({
      new: [],
      enabled: ["BlueprintCreated"],
      disabled: ["BlueprintCreated", "BlueprintDisabled"],
    });
  });

  it("has exactly the documented transition table", () => {
    const nodes = snapshotsByState();
    expect(new Set(nodes.keys())).toEqual(new Set(STATES));

    const actual: Record<string, Record<string, string>> = {};
    for (const [status, node] of nodes) {
      const row: Record<string, string> = {};
      for (const e of blueprintSampleEvents) {
        const [next] = transition(blueprintMachine, node.state, e);
        const edges = Object.values(node.transitions) as { event: BlueprintMachineEvent; state: typeof next }[];
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
    const accepted = (status: BlueprintStatus) =>
      blueprintSampleEvents.filter((e) => nodes.get(status)!.state.can(e)).map((e) => e.type);
    expect(accepted("new")).toEqual(["BlueprintCreated"]);
    expect(accepted("enabled")).toEqual(["BlueprintUpdated", "BlueprintDisabled", "BlueprintTargetFailed", "BlueprintTargetRecovered", "BlueprintInstanceReaped"]);
    expect(accepted("disabled")).toEqual(["BlueprintUpdated", "BlueprintEnabled", "BlueprintTargetFailed", "BlueprintTargetRecovered", "BlueprintInstanceReaped"]);
    // no final state: a blueprint is never deleted, only disabled
    for (const node of nodes.values()) expect(node.state.status).toBe("active");
  });

  it("simple paths walk every state-changing transition except the cycle back to enabled", () => {
    const walked = new Set(getSimplePaths(blueprintMachine, graphOptions).flatMap(pathEdges));
    const expected = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
      Object.entries(row)
        .filter(([, to]) => to !== from)
        .map(([type, to]) => `${from} --${type}--> ${to}`),
    );
    const cycle = ["disabled --BlueprintEnabled--> enabled"];
    expect([...walked].sort()).toEqual(expected.filter((e) => !cycle.includes(e)).sort());
  });
});

describe("blueprint fold agrees with the machine", () => {
  const paths = getSimplePaths(blueprintMachine, graphOptions);

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
      const events: BlueprintMachineEvent[] = [];
      let [snap] = initialTransition(blueprintMachine);
      const pad = () => {
        for (const e of blueprintSampleEvents) {
          if (TRANSITIONS[snap.value as BlueprintStatus][e.type] === snap.value && snap.can(e)) {
            events.push(e);
            [snap] = transition(blueprintMachine, snap, e);
          }
        }
      };
      for (const e of pathEvents(path)) {
        pad();
        events.push(e);
        [snap] = transition(blueprintMachine, snap, e);
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
    const model = createTestModel(blueprintMachine, graphOptions);
    const testPaths = model.getSimplePaths();
    expect(testPaths.length).toBeGreaterThan(0);
    const checked = new Set<string>();
    for (const path of testPaths) {
      const log: BlueprintMachineEvent[] = [];
      await path.test({
        states: Object.fromEntries(
          STATES.map((s) => [s, () => void (expect(fold(log).status).toBe(s), checked.add(s))] as const),
        ),
        events: Object.fromEntries(
          EVENT_TYPES.map((t) => [t, ({ event }: { event: { type: string } }) => void log.push(event as BlueprintMachineEvent)]),
        ),
      });
    }
    expect(checked).toEqual(new Set(STATES));
  });
});

describe("blueprint transitions, edge by edge", () => {
  const cells = Object.entries(TRANSITIONS).flatMap(([from, row]) =>
    Object.entries(row).map(([type, to]) => [from as BlueprintStatus, type as BlueprintEventType, to] as const),
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

  it("a blueprint can be disabled and enabled any number of times", () => {
    const toggle = [ev("BlueprintDisabled"), ev("BlueprintEnabled")];
    const events = [ev("BlueprintCreated"), ...toggle, ...toggle, ev("BlueprintDisabled")];
    expect(fold(events)).toMatchObject({ status: "disabled", version: 6 });
  });
});

describe("blueprint fold refuses illegal events", () => {
  it.each([
    [[ev("BlueprintUpdated")], 1, "BlueprintUpdated", "new"],
    [[ev("BlueprintCreated"), ev("BlueprintCreated")], 2, "BlueprintCreated", "enabled"],
    [[ev("BlueprintCreated"), ev("BlueprintEnabled")], 2, "BlueprintEnabled", "enabled"],
    [[ev("BlueprintCreated"), ev("BlueprintDisabled"), ev("BlueprintDisabled")], 3, "BlueprintDisabled", "disabled"],
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
      for (const e of blueprintSampleEvents) {
        if (e.type in TRANSITIONS[status]) continue;
        expect(() => fold([...prefix, e])).toThrow(
          new IllegalTransitionError(STREAM, prefix.length + 1, e.type, status).message,
        );
      }
    }
  });
});

describe("blueprint context", () => {
  const created = ev("BlueprintCreated");

  it("BlueprintCreated records the blueprint", () => {
    const { status, context } = fold([created]);
    expect(status).toBe("enabled");
    expect(context).toEqual({ ...created.data, createdAt: created.at, failingTargets: [] });
  });

  it("a failing target is recorded until the config changes or the blueprint is enabled; a recovery removes it", () => {
    const failed = ev("BlueprintTargetFailed");
    const again = { ...failed, at: "2024-05-01T10:05:00.000Z", data: { ...failed.data, failures: 2, retryAt: "2024-05-01T10:07:00.000Z" } };
    const twice = fold([created, failed, again]);
    // One record per target; `since` is when its failures in a row began.
    expect(twice.context.failingTargets).toEqual([{ target: "build-2", code: "host_key_mismatch", message: failed.data.message, failures: 2, since: failed.at, retryAt: "2024-05-01T10:07:00.000Z" }]);
    expect(fold([created, failed, ev("BlueprintTargetRecovered")]).context.failingTargets).toEqual([]);
    // A rename is no fix; a config change may be.
    expect(fold([created, failed, ev("BlueprintUpdated")]).context.failingTargets).toHaveLength(1);
    const fixed = { type: "BlueprintUpdated" as const, at: "2024-05-01T10:06:00.000Z", data: { config: { command: "make-host" } } };
    expect(fold([created, failed, fixed]).context.failingTargets).toEqual([]);
    const disabled = ev("BlueprintDisabled");
    expect(fold([created, disabled, failed]).context.failingTargets).toHaveLength(1);
    expect(fold([created, disabled, failed, ev("BlueprintEnabled")]).context.failingTargets).toEqual([]);
  });

  it("BlueprintUpdated changes only the fields it carries; null resourceLimit means no limit", () => {
    const updated = fold([created, ev("BlueprintUpdated")]);
    expect(updated.context).toMatchObject({ name: "hosts-v2", config: created.data.config, resourceLimit: null });

    const configOnly: BlueprintMachineEvent = {
      type: "BlueprintUpdated",
      at: "2024-05-01T10:10:00.000Z",
      data: { config: { command: "make-host-v2" } },
    };
    expect(blueprintEventSchemas.BlueprintUpdated.parse(configOnly.data)).toEqual(configOnly.data);
    expect(fold([created, configOnly]).context).toMatchObject({
      name: "hosts",
      config: { command: "make-host-v2" },
      resourceLimit: 3,
    });
  });

  it("updates apply while disabled and survive re-enabling", () => {
    const { status, context } = fold([created, ev("BlueprintDisabled"), ev("BlueprintUpdated"), ev("BlueprintEnabled")]);
    expect(status).toBe("enabled");
    expect(context).toMatchObject({ name: "hosts-v2", resourceLimit: null, createdAt: created.at });
  });
});

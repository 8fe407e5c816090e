import { describe, expect, it } from "vitest";
import { initialTransition, transition, type AnyStateMachine } from "xstate";
import { createTestModel, getShortestPaths, getSimplePaths } from "xstate/graph";
import type { ZodType } from "zod";
import { IllegalTransitionError } from "../../src/machines/fold";
import { pathEdges, pathEvents } from "./machine-events";
import type { Edge, EventOf, MachineHarness, TransitionTable } from "./machine-harness";

/**
 * The contract each event-sourced machine (lease, resource, blueprint) keeps with its documented
 * transition table and with its fold (src/machines/fold.ts), written once so that the three machines'
 * tests cannot drift apart; each test keeps only what is specific to its machine.
 */

/** What a machine's test documents about it; the contract checks the machine and its fold against it. */
export interface MachineContract<M extends AnyStateMachine, Status extends string, Context> {
  harness: MachineHarness<M, Status, Context>;
  transitions: TransitionTable<Status, EventOf<M>["type"]>;
  /** The event types of the shortest path to each state, as getShortestPaths finds it. */
  shortestPaths: Record<Status, readonly EventOf<M>["type"][]>;
  /**
   * State-changing transitions that close a cycle: a simple path never revisits a state, so it
   * cannot walk them; the machine's own test walks them instead. `to` names the state they return to.
   */
  cycle?: { to: Status; edges: readonly Edge<Status, EventOf<M>["type"]>[] };
  /** Illegal event sequences: the events, then the version, event type and status the error names. */
  refusals: readonly (readonly [events: readonly EventOf<M>[], version: number, type: EventOf<M>["type"], status: Status])[];
}

export function describeMachineContract<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  describeSamplesAndTable(contract);
  describeGraph(contract);
  describeFoldAgreement(contract);
  describeEdges(contract);
  describeRefusals(contract);
}

function describeSamplesAndTable<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  const { harness: h, transitions } = contract;
  describe(`${h.name} sample events`, () => {
    it(`cover every ${h.name} event type`, () => {
      expect(new Set(h.samples.map((e) => e.type))).toEqual(new Set(h.eventTypes));
    });

    const schemas: Record<string, ZodType> = h.eventSchemas;
    it.each(h.samples.map((e, i) => [`${i}:${e.type}`, e] as const))("%s matches its schema", (_, e) => {
      expect(() => schemas[e.type]!.parse(e.data)).not.toThrow();
      expect(schemas[e.type]!.parse(e.data)).toEqual(e.data);
      expect(new Date(e.at).toISOString()).toBe(e.at);
    });

    it("the table lists only known states and event types", () => {
      expect(Object.keys(transitions).sort()).toEqual([...h.states].sort());
      for (const row of Object.values<Partial<Record<string, S>>>(transitions)) {
        for (const [type, target] of Object.entries(row)) {
          expect(h.eventTypes).toContain(type);
          expect(h.states).toContain(target);
        }
      }
    });
  });
}

function describeGraph<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  const { harness: h, transitions, shortestPaths, cycle } = contract;
  describe(`${h.name} machine graph`, () => {
    it("reaches exactly the documented states (simple paths)", () => {
      const paths = getSimplePaths(h.machine, h.graphOptions);
      expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(h.states));
    });

    it("reaches exactly the documented states (shortest paths)", () => {
      const paths = getShortestPaths(h.machine, h.graphOptions);
      const shortest = Object.fromEntries(paths.map((p) => [p.state.value as string, pathEvents(p).map((e) => e.type)]));
      expect(shortest).toEqual(shortestPaths);
    });

    it("has exactly the documented transition table", () => {
      const nodes = h.snapshotsByState();
      expect(new Set(nodes.keys())).toEqual(new Set(h.states));

      const actual: Record<string, Record<string, string>> = {};
      for (const [status, node] of nodes) {
        const row: Record<string, string> = {};
        for (const e of h.samples) {
          const [next] = transition(h.machine, node.state, e);
          // the graph's own adjacency agrees with a direct transition
          const edges = Object.values(node.transitions) as { event: EventOf<M>; state: typeof next }[];
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
      expect(actual).toEqual(transitions);
    });

    const except = cycle ? ` except the cycle back to ${cycle.to}` : "";
    it(`simple paths walk every state-changing transition${except}`, () => {
      const walked = new Set(getSimplePaths(h.machine, h.graphOptions).flatMap(pathEdges));
      const expected = Object.entries<Partial<Record<string, S>>>(transitions).flatMap(([from, row]) =>
        Object.entries(row)
          .filter(([, to]) => to !== from)
          .map(([type, to]) => `${from} --${type}--> ${to}`),
      );
      const unwalkable: readonly string[] = cycle?.edges ?? [];
      expect([...walked].sort()).toEqual(expected.filter((e) => !unwalkable.includes(e)).sort());
    });
  });
}

function describeFoldAgreement<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  const { harness: h, transitions } = contract;
  type Event = EventOf<M>;
  describe(`${h.name} fold agrees with the machine`, () => {
    const paths = getSimplePaths(h.machine, h.graphOptions);

    const named = paths.map((p) => [pathEvents(p).map((e) => e.type).join(" > ") || "(no events)", p] as const);
    it.each(named)("%s", (_, path) => {
      const events = pathEvents(path);
      const folded = h.fold(events);
      expect(folded.status).toBe(path.state.value);
      expect(folded.version).toBe(events.length);
      // path.state is keyed by state value only, so its context may come from another path:
      // compare the context with a direct run of the same events instead
      expect(folded.context).toEqual(h.run(events).context);
    });

    it("also along each simple path padded with every accepted same-state event", () => {
      for (const path of paths) {
        const events: Event[] = [];
        let [snap] = initialTransition(h.machine);
        const pad = () => {
          for (const e of h.samples) {
            const row: Partial<Record<string, S>> = transitions[snap.value as S];
            if (row[e.type] === snap.value && snap.can(e)) {
              events.push(e);
              [snap] = transition(h.machine, snap, e);
            }
          }
        };
        for (const e of pathEvents(path)) {
          pad();
          events.push(e);
          [snap] = transition(h.machine, snap, e);
        }
        pad();
        const folded = h.fold(events);
        expect(folded.status).toBe(path.state.value);
        expect(folded.status).toBe(snap.value);
        expect(folded.context).toEqual(snap.context);
        expect(folded.version).toBe(events.length);
      }
    });

    it("the fold, as a system under test, passes every test-model path", async () => {
      const model = createTestModel(h.machine, h.graphOptions);
      const testPaths = model.getSimplePaths();
      expect(testPaths.length).toBeGreaterThan(0);
      const checked = new Set<string>();
      for (const path of testPaths) {
        const log: Event[] = [];
        await path.test({
          states: Object.fromEntries(
            h.states.map((s) => [s, () => void (expect(h.fold(log).status).toBe(s), checked.add(s))] as const),
          ),
          events: Object.fromEntries(
            h.eventTypes.map((t) => [t, ({ event }: { event: { type: string } }) => void log.push(event as Event)]),
          ),
        });
      }
      expect(checked).toEqual(new Set(h.states));
    });
  });
}

function describeEdges<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  const { harness: h, transitions } = contract;
  describe(`${h.name} transitions, edge by edge`, () => {
    const cells = Object.entries<Partial<Record<string, S>>>(transitions).flatMap(([from, row]) =>
      Object.entries(row).map(([type, to]) => [from as S, type, to] as const),
    );

    it.each(cells)("%s + %s -> %s (machine and fold)", (from, type, to) => {
      const prefix = h.shortestEventsTo(from);
      const samples = h.samples.filter((x) => x.type === type);
      expect(samples.length).toBeGreaterThan(0);
      for (const e of samples) {
        const snap = h.run([...prefix, e]);
        expect(snap.value).toBe(to);
        const folded = h.fold([...prefix, e]);
        expect(folded.status).toBe(to);
        expect(folded.context).toEqual(snap.context);
      }
    });
  });
}

function describeRefusals<M extends AnyStateMachine, S extends string, C>(contract: MachineContract<M, S, C>): void {
  const { harness: h, transitions, refusals } = contract;
  const stream = h.streamId;
  describe(`${h.name} fold refuses illegal events`, () => {
    it.each(refusals)("%#: throws naming stream, version, event and status", (events, version, type, status) => {
      let error: unknown;
      try {
        h.fold(events);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IllegalTransitionError);
      const err = error as IllegalTransitionError;
      expect(err).toMatchObject({ streamId: stream, streamVersion: version, eventType: type, status });
      expect(err.message).toBe(`${stream}@${version}: ${type} is not allowed when ${status}`);
    });

    it("every refused cell of the table throws", () => {
      const nodes = h.snapshotsByState();
      for (const status of h.states) {
        const prefix = h.shortestEventsTo(status);
        expect(nodes.has(status)).toBe(true);
        for (const e of h.samples) {
          if (e.type in transitions[status]) continue;
          expect(() => h.fold([...prefix, e])).toThrow(
            new IllegalTransitionError(stream, prefix.length + 1, e.type, status).message,
          );
        }
      }
    });
  });
}

import { initialTransition, transition, type AnyStateMachine, type EventFromLogic } from "xstate";
import { getAdjacencyMap, getShortestPaths } from "xstate/graph";
import type { ZodType } from "zod";
import type { RecordedEvent } from "../../events/envelope";
import type { Folded } from "../../src/machines/fold";
import { byStateValue, pathEvents, sampleOf, toRecordedEvents } from "./machine-events";

/*
 * One machine under test (lease, resource, blueprint) with the ways its tests run events through
 * it and through its fold: what the shared contract (machine-contract.ts) and each machine's own
 * tests use alike.
 */

/**
 * The legal transitions of a machine: state -> event type -> next state. An event type missing from
 * a row is refused in that state (`snapshot.can(event)` is false and the fold throws).
 */
export type TransitionTable<Status extends string, EventType extends string> = Record<Status, Partial<Record<EventType, Status>>>;

/** One transition, spelled as pathEdges spells it, so a typo in a state or event type does not compile. */
export type Edge<Status extends string, EventType extends string> = `${Status} --${EventType}--> ${Status}`;

/** A machine event as the fold and the samples carry it: the domain event and when it was recorded. */
export type EventOf<M extends AnyStateMachine> = EventFromLogic<M> & { data: unknown; at: string };

export interface MachineSubject<M extends AnyStateMachine, Status extends string, Context> {
  /** Prefixes every describe title, e.g. "lease" for "lease machine graph". */
  name: string;
  machine: M;
  folder: { fold(events: readonly RecordedEvent[]): { state: Folded<Status, Context> } };
  streamId: string;
  states: readonly Status[];
  eventSchemas: Record<EventOf<M>["type"], ZodType>;
  /** At least one event per event type (test/support/machine-events.ts). */
  samples: readonly EventOf<M>[];
}

/** The ways of running events through a machine and its fold that the contract and the tests share. */
export function machineHarness<M extends AnyStateMachine, Status extends string, Context>(
  subject: MachineSubject<M, Status, Context>,
) {
  type Event = EventOf<M>;
  // M only ties the samples and schemas to the machine's own events; a generic M's snapshot type
  // stays unresolved inside these helpers, so they run it as any machine.
  const machine: AnyStateMachine = subject.machine;
  const { samples, streamId } = subject;
  const graphOptions = { events: samples, serializeState: byStateValue };
  const eventTypes = Object.keys(subject.eventSchemas) as Event["type"][];

  /** A snapshot in every reachable state, keyed by status. */
  function snapshotsByState() {
    const adjacency = getAdjacencyMap(machine, graphOptions);
    return new Map(Object.values(adjacency).map((node) => [node.state.value as Status, node]));
  }

  /** The events of the shortest path from the initial state to `status`. */
  function shortestEventsTo(status: Status): Event[] {
    const path = getShortestPaths(machine, { ...graphOptions, toState: (s) => s.value === status }).find(
      (p) => p.state.value === status,
    );
    if (!path) throw new Error(`${status} is unreachable`);
    return pathEvents(path);
  }

  /** The types of the samples the machine accepts in `status`, in sample order. */
  function acceptedIn(status: Status): Event["type"][] {
    const node = snapshotsByState().get(status);
    if (!node) throw new Error(`${status} is unreachable`);
    return samples.filter((e) => node.state.can(e)).map((e) => e.type);
  }

  const ev = <T extends Event["type"]>(type: T) => sampleOf(samples, type);

  function fold(events: readonly Event[]): Folded<Status, Context> {
    return subject.folder.fold(toRecordedEvents(streamId, events)).state;
  }

  /** Run events through the machine directly (no fold), refusing nothing. */
  function run(events: readonly Event[]) {
    let [snap] = initialTransition(machine);
    for (const e of events) [snap] = transition(machine, snap, e);
    return snap;
  }

  return { ...subject, machine, graphOptions, eventTypes, snapshotsByState, shortestEventsTo, acceptedIn, ev, fold, run };
}

export type MachineHarness<M extends AnyStateMachine, S extends string, C> = ReturnType<typeof machineHarness<M, S, C>>;

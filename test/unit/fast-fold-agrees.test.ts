import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from "xstate";
import { getShortestPaths, getSimplePaths } from "xstate/graph";
import { authorizationEventSchemas } from "../../events/authorization-events";
import { blueprintEventSchemas } from "../../events/blueprint-events";
import { leaseEventSchemas } from "../../events/lease-events";
import { resourceEventSchemas } from "../../events/resource-events";
import { tokenEventSchemas } from "../../events/token-events";
import { authorizationMachine, type AuthorizationMachineEvent } from "../../src/machines/authorization-machine";
import { blueprintMachine, type BlueprintMachineEvent } from "../../src/machines/blueprint-machine";
import { compileMachine, UnsupportedMachineError } from "../../src/machines/compile-machine";
import {
  authorizationFolder,
  blueprintFolder,
  IllegalTransitionError,
  leaseFolder,
  resourceFolder,
  tokenFolder,
  type FoldSnapshot,
} from "../../src/machines/fold";
import { leaseMachine, type LeaseMachineEvent } from "../../src/machines/lease-machine";
import { resourceMachine, type ResourceMachineEvent } from "../../src/machines/resource-machine";
import { tokenMachine, type TokenMachineEvent } from "../../src/machines/token-machine";
import { blueprintSampleEvents, byStateValue, leaseSampleEvents, pathEvents, resourceSampleEvents, toRecordedEvents } from "../support/machine-events";

/**
 * The fold runs a transition table compiled from each machine (src/machines/compile-machine.ts)
 * instead of XState's interpreter. Here the two run side by side on every path xstate/graph finds
 * (simple and shortest), and on random walks, and must agree after every step: the same state,
 * the same context, and the same answer to every event offered, refusals included.
 */

type MachineEvent = { type: string; data: unknown; at: string };

interface Folder {
  compiled: { table: ReadonlyMap<string, unknown> };
  start(): FoldSnapshot;
  step(snap: FoldSnapshot, event: MachineEvent, where: { streamId: string; streamVersion: number }): FoldSnapshot;
  can(snap: FoldSnapshot, event: { type: string }): boolean;
  fold(events: readonly ReturnType<typeof toRecordedEvents>[number][]): { state: { status: string; context: unknown; version: number } };
}

const at = (second: number) => new Date(Date.UTC(2024, 4, 1, 10, 0, second)).toISOString();

/** Variants beyond the shared samples, so that the context updates see different data. */
const leaseEvents: LeaseMachineEvent[] = [
  ...leaseSampleEvents,
  { type: "LeaseReleased", at: at(20), data: { reason: "requested", detail: "authorization au_1 revoked" } },
  { type: "LeaseRequested", at: at(21), data: { leaseId: "ls_2", resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "bob", ownerResourceId: "rs_9", ttlSeconds: null, expiresAt: null } },
  { type: "LeaseYielded", at: at(22), data: { reason: "again", retryAt: at(50), attempt: 3, error: null } },
];
const resourceEvents: ResourceMachineEvent[] = [
  ...resourceSampleEvents,
  { type: "ResourceActivated", at: at(23), data: { attributes: { region: "us", disk: 40 } } },
  { type: "ResourceActivationYielded", at: at(24), data: { reason: "still busy", retryAt: at(55), attempt: 2 } },
];
const blueprintEvents: BlueprintMachineEvent[] = [
  ...blueprintSampleEvents,
  { type: "BlueprintUpdated", at: at(25), data: { config: { command: "other" } } },
  { type: "BlueprintUpdated", at: at(26), data: { resourceLimit: 7 } },
];
const tokenEvents: TokenMachineEvent[] = [
  { type: "TokenIssued", at: at(0), data: { tokenId: "tk_1", owner: "ci", role: "client", hash: `sha256:${"ab".repeat(32)}` } },
  { type: "TokenRevoked", at: at(1), data: { reason: "leaked" } },
  { type: "TokenQuotaChanged", at: at(2), data: { leaseQuota: { maxLiveLeases: 2, byResourceType: { host: 1 } } } },
];
const authorizationEvents: AuthorizationMachineEvent[] = [
  { type: "AuthorizationRequested", at: at(0), data: { authorizationId: "au_1", blueprintId: "bp_1", client: "ci" } },
  { type: "AuthorizationApproved", at: at(1), data: {} },
  { type: "AuthorizationDeclined", at: at(2), data: { reason: "not this one" } },
  { type: "AuthorizationRevoked", at: at(3), data: { reason: "rotated", releaseLeases: true } },
];

/** An event no machine knows, and one of another stream type: every machine must refuse both. */
const strangers: MachineEvent[] = [
  { type: "NoSuchEvent", at: at(30), data: {} },
  { type: "TokenRevoked", at: at(31), data: { reason: "wrong stream" } },
  { type: "LeaseDestroyed", at: at(32), data: { cleanupError: null } },
];

const cases = [
  { name: "lease", machine: leaseMachine, folder: leaseFolder, events: leaseEvents, schemas: leaseEventSchemas },
  { name: "resource", machine: resourceMachine, folder: resourceFolder, events: resourceEvents, schemas: resourceEventSchemas },
  { name: "blueprint", machine: blueprintMachine, folder: blueprintFolder, events: blueprintEvents, schemas: blueprintEventSchemas },
  { name: "token", machine: tokenMachine, folder: tokenFolder, events: tokenEvents, schemas: tokenEventSchemas },
  { name: "authorization", machine: authorizationMachine, folder: authorizationFolder, events: authorizationEvents, schemas: authorizationEventSchemas },
] as const satisfies readonly { name: string; machine: AnyStateMachine; folder: Folder; events: readonly MachineEvent[]; schemas: object }[];

/** Every event offered at every step: the samples, and the strangers (unless a sample has that type). */
function offered(events: readonly MachineEvent[]): MachineEvent[] {
  return [...events, ...strangers.filter((s) => !events.some((e) => e.type === s.type))];
}

/**
 * Walks `path` through XState and the fold together. After each step: same state and context. At
 * each state along the way: every offered event is accepted by both or refused by both, and when
 * accepted, leads both to the same state and context. Returns the number of comparisons made.
 */
function walk(machine: AnyStateMachine, folder: Folder, events: readonly MachineEvent[], path: readonly MachineEvent[]): number {
  let reference: AnyMachineSnapshot = initialTransition(machine)[0];
  let fast = folder.start();
  let compared = 0;
  const same = (r: AnyMachineSnapshot, f: FoldSnapshot) => {
    expect(f.value).toBe(r.value);
    expect(f.context).toEqual(r.context);
    compared++;
  };
  same(reference, fast);
  for (const [i, event] of [...path, null].entries()) {
    for (const e of offered(events)) {
      const accepted = reference.can(e as never);
      expect(folder.can(fast, e), `${String(reference.value)} + ${e.type}`).toBe(accepted);
      if (accepted) same(transition(machine, reference, e as never)[0], folder.step(fast, e, { streamId: "s", streamVersion: i + 1 }));
      else expect(() => folder.step(fast, e, { streamId: "s", streamVersion: i + 1 })).toThrow(IllegalTransitionError);
    }
    if (!event) break;
    reference = transition(machine, reference, event as never)[0];
    fast = folder.step(fast, event, { streamId: "s", streamVersion: i + 1 });
    same(reference, fast);
  }
  return compared;
}

describe.each(cases)("$name: the fast fold agrees with XState", ({ machine, folder, events, schemas }) => {
  const graph = { events, serializeState: byStateValue };

  it("the sample events are valid events of the stream", () => {
    for (const e of events) expect(() => (schemas as Record<string, { parse(d: unknown): unknown }>)[e.type]!.parse(e.data), e.type).not.toThrow();
    // Every event type of the stream is offered, so every cell of the table is compared.
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(Object.keys(schemas)));
  });

  it("the table has a row for each of the machine's states", () => {
    expect([...folder.compiled.table.keys()].sort()).toEqual(Object.keys(machine.root.states).sort());
  });

  it("on every simple path, step by step, every event offered at every step", () => {
    const paths = getSimplePaths(machine, graph);
    expect(paths.length).toBeGreaterThan(1);
    let compared = 0;
    for (const path of paths) compared += walk(machine, folder, events, pathEvents(path) as MachineEvent[]);
    expect(compared).toBeGreaterThan(paths.length);
  });

  it("on every shortest path, step by step, every event offered at every step", () => {
    const paths = getShortestPaths(machine, graph);
    expect(new Set(paths.map((p) => p.state.value))).toEqual(new Set(Object.keys(machine.root.states)));
    for (const path of paths) walk(machine, folder, events, pathEvents(path) as MachineEvent[]);
  });

  it("on random walks, refused events included: the fold refuses exactly what XState refuses", () => {
    const pool = offered(events);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 40 }), (picks) => {
        let reference: AnyMachineSnapshot = initialTransition(machine)[0];
        let fast = folder.start();
        for (const [i, pick] of picks.entries()) {
          const e = pool[pick]!;
          if (!reference.can(e as never)) {
            // XState would leave the snapshot as it is; the fold names the refusal.
            expect(() => folder.step(fast, e, { streamId: "s", streamVersion: i + 1 })).toThrow(
              new IllegalTransitionError("s", i + 1, e.type, String(reference.value)).message,
            );
            continue;
          }
          reference = transition(machine, reference, e as never)[0];
          fast = folder.step(fast, e, { streamId: "s", streamVersion: i + 1 });
          expect(fast.value).toBe(reference.value);
          expect(fast.context).toEqual(reference.context);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("fold() of a stored stream gives the state, context and version XState reaches", () => {
    for (const path of getSimplePaths(machine, graph)) {
      const steps = pathEvents(path) as MachineEvent[];
      let reference: AnyMachineSnapshot = initialTransition(machine)[0];
      for (const e of steps) reference = transition(machine, reference, e as never)[0];
      const { state } = folder.fold(toRecordedEvents("s", steps));
      expect(state).toEqual({ status: reference.value, context: reference.context, version: steps.length });
    }
  });
});

describe("the compiler refuses what it cannot reproduce", () => {
  it.each([
    ["a guard", { initial: "a", states: { a: { on: { GO: { target: "b", guard: () => true } } }, b: {} } }],
    ["nested states", { initial: "a", states: { a: { initial: "x", states: { x: {} } } } }],
    ["an entry action", { initial: "a", states: { a: { entry: () => {} } } }],
    ["an eventless transition", { initial: "a", states: { a: { always: "b" }, b: {} } }],
    ["an inline action", { initial: "a", states: { a: { on: { GO: { actions: () => {} } } } } }],
    ["a transition on the root", { initial: "a", on: { GO: ".a" }, states: { a: {} } }],
  ])("%s", async (_, config) => {
    const { createMachine } = await import("xstate");
    expect(() => compileMachine(createMachine(config as never), {})).toThrow(UnsupportedMachineError);
  });

  it("an action with no context update", async () => {
    const { assign, setup } = await import("xstate");
    const machine = setup({ actions: { bump: assign({}) } }).createMachine({ initial: "a", context: {}, states: { a: { on: { GO: { actions: "bump" } } } } });
    expect(() => compileMachine(machine, {})).toThrow(/runs bump, which is not one of the context updates/);
  });
});

import { initialTransition, type AnyStateMachine, type AnyStateNode } from "xstate";
import type { ContextUpdate, ContextUpdates } from "./context-updates";

/**
 * A machine compiled into a transition table: for each (state, event type) the state it goes to
 * and the context updates it runs, read from the machine's own definition, so the machine stays
 * the one place the lifecycle rules are written. Folding through the table costs a map lookup and
 * a call per event, where XState's `transition` (which resolves actions, builds snapshots, checks
 * final states and more) costs about 0.1 ms.
 *
 * It reproduces what XState does for the machines this project writes: flat states, transitions
 * without guards, context changed only by named `assign` actions that call a plain update
 * (context-updates.ts). A machine that uses anything else (nested or parallel states, guards,
 * entry/exit actions, eventless or delayed transitions, invoked actors, wildcards, inline
 * actions) is refused when the module loads, rather than folded differently from XState. The
 * unit test fast-fold-agrees.test.ts walks every path of every machine through both.
 */
export interface CompiledStep<Context> {
  readonly target: string;
  /** Null when the transition leaves the context as it is (a target and no actions). */
  readonly update: ContextUpdate<Context, MachineEventLike> | null;
}

export interface MachineEventLike {
  type: string;
  data: unknown;
  at: string;
}

export interface CompiledMachine<Context> {
  readonly id: string;
  readonly initialStatus: string;
  readonly initialContext: Context;
  /** state -> event type -> step; an event type missing from a state's map is refused there. */
  readonly table: ReadonlyMap<string, ReadonlyMap<string, CompiledStep<Context>>>;
}

export class UnsupportedMachineError extends Error {
  constructor(machineId: string, what: string) {
    super(`machine ${machineId} cannot be compiled into a transition table: ${what}`);
  }
}

export function compileMachine<Context>(machine: AnyStateMachine, updates: ContextUpdates<Context>): CompiledMachine<Context> {
  const id = machine.id;
  const refuse = (what: string): never => {
    throw new UnsupportedMachineError(id, what);
  };
  const root = machine.root;
  checkPlain(root, refuse);
  if (root.type !== "compound") refuse(`its root is ${root.type}, not a set of flat states`);
  if (root.on && Object.keys(root.on).length > 0) refuse("it has transitions on the root (they would apply in every state)");
  const known = machine.implementations.actions as Record<string, unknown>;

  const table = new Map<string, Map<string, CompiledStep<Context>>>();
  for (const [key, node] of Object.entries(root.states as Record<string, AnyStateNode>)) {
    if (node.type !== "atomic" && node.type !== "final") refuse(`state ${key} is ${node.type}`);
    checkPlain(node, refuse);
    const row = new Map<string, CompiledStep<Context>>();
    for (const [eventType, transitions] of Object.entries(node.on)) {
      const where = `${key} --${eventType}-->`;
      if (eventType === "*" || eventType.endsWith(".*")) refuse(`${where} is a wildcard`);
      if (transitions.length !== 1) refuse(`${where} has ${transitions.length} candidate transitions`);
      const t = transitions[0]!;
      if (t.guard) refuse(`${where} has a guard`);
      const targets = t.target ?? [];
      if (targets.length > 1) refuse(`${where} has several targets`);
      const target = targets[0];
      if (target && target.parent !== root) refuse(`${where} targets ${target.id}, not a sibling state`);
      const steps: ContextUpdate<Context, MachineEventLike>[] = [];
      for (const action of t.actions) {
        if (typeof action !== "string") refuse(`${where} has an inline action (name it and give it an update)`);
        const name = action as string;
        if (!(name in known)) refuse(`${where} names an action ${name} the machine does not implement`);
        const update = updates[name];
        if (!update) refuse(`${where} runs ${name}, which is not one of the context updates`);
        steps.push(update as unknown as ContextUpdate<Context, MachineEventLike>);
      }
      // XState's `can` refuses a transition that neither moves nor acts; so does the table.
      if (!target && steps.length === 0) continue;
      row.set(eventType, { target: target ? target.key : key, update: combine(steps) });
    }
    table.set(key, row);
  }

  const [initial] = initialTransition(machine);
  if (typeof initial.value !== "string") refuse("its initial state is not a flat state");
  if (Object.keys(initial.children).length > 0) refuse("it starts actors");
  return { id, initialStatus: initial.value as string, initialContext: initial.context as Context, table };
}

function checkPlain(node: AnyStateNode, refuse: (what: string) => never): void {
  const where = node.key;
  if (node.entry.length > 0 || node.exit.length > 0) refuse(`${where} has entry or exit actions`);
  if (node.always && node.always.length > 0) refuse(`${where} has eventless transitions`);
  if (node.after.length > 0) refuse(`${where} has delayed transitions`);
  if (node.invoke.length > 0) refuse(`${where} invokes actors`);
  if (node.history) refuse(`${where} is a history state`);
}

/** One update from several actions, applied in order, each seeing the context the previous made. */
function combine<Context>(steps: ContextUpdate<Context, MachineEventLike>[]): ContextUpdate<Context, MachineEventLike> | null {
  if (steps.length === 0) return null;
  if (steps.length === 1) return steps[0]!;
  return (context, event) => {
    let next = context;
    for (const step of steps) next = { ...next, ...step(next, event) };
    return next;
  };
}

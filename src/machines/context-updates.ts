import { assign, type ActionFunction, type EventObject, type MachineContext } from "xstate";

/**
 * A machine's context update for one kind of event, as a plain pure function: the part of the
 * context the event changes (merged over the old context, as `assign` does). It must not mutate
 * its arguments: the fast fold shares unchanged contexts between states.
 */
export type ContextUpdate<Context, Event> = (context: Context, event: Event) => Partial<Context>;

/** The named context updates of one machine. */
export type ContextUpdates<Context> = Record<string, ContextUpdate<Context, never>>;

type AssignAction<Context extends MachineContext, Event extends EventObject> = ActionFunction<
  Context,
  Event,
  Event,
  undefined,
  never,
  never,
  never,
  never,
  never
>;

/**
 * The machine's `assign` actions, one per named update and calling it: the machine and the fast
 * fold (compile-machine.ts) run the very same function, so the context is defined once. Each
 * update is written for the event types the machine routes to it; the machine is what routes.
 */
export function assignEach<Context extends MachineContext, Event extends EventObject, Updates extends ContextUpdates<Context>>(
  updates: Updates,
): { [K in keyof Updates]: AssignAction<Context, Event> } {
  const actions = {} as { [K in keyof Updates]: AssignAction<Context, Event> };
  for (const name of Object.keys(updates) as (keyof Updates & string)[]) {
    const update = updates[name] as unknown as ContextUpdate<Context, Event>;
    actions[name] = assign<Context, Event, undefined, Event, never>(({ context, event }) => update(context, event));
  }
  return actions;
}

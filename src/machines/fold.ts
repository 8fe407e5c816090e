import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from "xstate";
import type { RecordedEvent } from "../../events/envelope";
import { authorizationMachine, type AuthorizationContext, type AuthorizationStatus } from "./authorization-machine";
import { blueprintMachine, type BlueprintContext, type BlueprintStatus } from "./blueprint-machine";
import { leaseMachine, type LeaseContext, type LeaseStatus } from "./lease-machine";
import { resourceMachine, type ResourceContext, type ResourceStatus } from "./resource-machine";
import { tokenMachine, type TokenContext, type TokenStatus } from "./token-machine";

/**
 * The state of a stream is the fold of its events through its machine. A stored event that the
 * machine refuses means the log holds an illegal transition: the fold says so instead of skipping it.
 */
export class IllegalTransitionError extends Error {
  constructor(
    readonly streamId: string,
    readonly streamVersion: number,
    readonly eventType: string,
    readonly status: string,
  ) {
    super(`${streamId}@${streamVersion}: ${eventType} is not allowed when ${status}`);
  }
}

export interface Folded<Status extends string, Context> {
  status: Status;
  context: Context;
  /** Stream version of the last event folded; 0 for a stream that does not exist yet. */
  version: number;
}

export interface MachineEventOf {
  type: string;
  data: unknown;
  at: string;
}

export function toMachineEvent(event: Pick<RecordedEvent, "type" | "data" | "recordedAt">): MachineEventOf {
  return { type: event.type, data: event.data, at: event.recordedAt.toISOString() };
}

function makeFolder<M extends AnyStateMachine, Status extends string, Context>(machine: M) {
  type Snap = AnyMachineSnapshot;
  const start = (): Snap => initialTransition(machine as AnyStateMachine, undefined)[0] as Snap;
  const step = (snap: Snap, event: MachineEventOf, where: { streamId: string; streamVersion: number }): Snap => {
    if (!snap.can(event as never)) {
      throw new IllegalTransitionError(where.streamId, where.streamVersion, event.type, String(snap.value));
    }
    return transition(machine as AnyStateMachine, snap as never, event as never)[0] as Snap;
  };
  const view = (snap: Snap, version: number): Folded<Status, Context> => ({
    status: snap.value as Status,
    context: snap.context as Context,
    version,
  });
  return {
    start,
    step,
    view,
    /** Would the machine accept this event in this state? */
    can(snap: Snap, event: MachineEventOf): boolean {
      return snap.can(event as never);
    },
    fold(events: readonly RecordedEvent[]): { snapshot: Snap; state: Folded<Status, Context> } {
      let snap = start();
      let version = 0;
      for (const e of events) {
        snap = step(snap, toMachineEvent(e), e);
        version = e.streamVersion;
      }
      return { snapshot: snap, state: view(snap, version) };
    },
  };
}

export const leaseFolder = makeFolder<typeof leaseMachine, LeaseStatus, LeaseContext>(leaseMachine);
export const resourceFolder = makeFolder<typeof resourceMachine, ResourceStatus, ResourceContext>(resourceMachine);
export const blueprintFolder = makeFolder<typeof blueprintMachine, BlueprintStatus, BlueprintContext>(blueprintMachine);
export const tokenFolder = makeFolder<typeof tokenMachine, TokenStatus, TokenContext>(tokenMachine);
export const authorizationFolder = makeFolder<typeof authorizationMachine, AuthorizationStatus, AuthorizationContext>(authorizationMachine);

export type LeaseState = Folded<LeaseStatus, LeaseContext>;
export type ResourceState = Folded<ResourceStatus, ResourceContext>;
export type BlueprintState = Folded<BlueprintStatus, BlueprintContext>;
export type TokenState = Folded<TokenStatus, TokenContext>;
export type AuthorizationState = Folded<AuthorizationStatus, AuthorizationContext>;

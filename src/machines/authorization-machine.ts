import { assign, setup } from "xstate";
import type { AuthorizationEvent } from "../../events/authorization-events";

/**
 * The lifecycle of a client's authorization to use a blueprint:
 *
 *   requested -> approved | declined;  approved -> revoked;  declined | revoked -> approved
 *
 * Only `approved` lets the allocator use the blueprint for the client. An admin may change a
 * decline or a revocation into an approval later; a client asking again does not reopen it (as
 * in Drydock, a request keeps the earlier decision), so a declined client cannot nag.
 */
export type AuthorizationMachineEvent = AuthorizationEvent & { at: string };

export type AuthorizationStatus = "new" | "requested" | "approved" | "declined" | "revoked";

export interface AuthorizationContext {
  authorizationId: string;
  blueprintId: string;
  client: string;
  requestedAt: string | null;
  decidedAt: string | null;
  reason: string | null;
}

type Of<T extends AuthorizationMachineEvent["type"]> = Extract<AuthorizationMachineEvent, { type: T }>;

export const authorizationMachine = setup({
  types: { context: {} as AuthorizationContext, events: {} as AuthorizationMachineEvent },
  actions: {
    request: assign(({ event }) => {
      const e = event as Of<"AuthorizationRequested">;
      return { authorizationId: e.data.authorizationId, blueprintId: e.data.blueprintId, client: e.data.client, requestedAt: e.at };
    }),
    approve: assign(({ event }) => ({ decidedAt: event.at, reason: null })),
    refuse: assign(({ event }) => ({ decidedAt: event.at, reason: (event as Of<"AuthorizationDeclined" | "AuthorizationRevoked">).data.reason })),
  },
}).createMachine({
  id: "authorization",
  initial: "new",
  context: { authorizationId: "", blueprintId: "", client: "", requestedAt: null, decidedAt: null, reason: null },
  states: {
    new: { on: { AuthorizationRequested: { target: "requested", actions: "request" } } },
    requested: {
      on: {
        AuthorizationApproved: { target: "approved", actions: "approve" },
        AuthorizationDeclined: { target: "declined", actions: "refuse" },
      },
    },
    approved: { on: { AuthorizationRevoked: { target: "revoked", actions: "refuse" } } },
    declined: { on: { AuthorizationApproved: { target: "approved", actions: "approve" } } },
    revoked: { on: { AuthorizationApproved: { target: "approved", actions: "approve" } } },
  },
});

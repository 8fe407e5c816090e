import { setup } from "xstate";
import type { AuthorizationEvent } from "../../events/authorization-events";
import { assignEach, type ContextUpdates } from "./context-updates";

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

/** How each event changes the authorization's context: the machine's `assign`s and the fast fold call these. */
export const authorizationUpdates = {
  request: (_: AuthorizationContext, e: Of<"AuthorizationRequested">) => ({
    authorizationId: e.data.authorizationId,
    blueprintId: e.data.blueprintId,
    client: e.data.client,
    requestedAt: e.at,
  }),
  approve: (_: AuthorizationContext, e: Of<"AuthorizationApproved">) => ({ decidedAt: e.at, reason: null }),
  refuse: (_: AuthorizationContext, e: Of<"AuthorizationDeclined" | "AuthorizationRevoked">) => ({ decidedAt: e.at, reason: e.data.reason }),
} satisfies ContextUpdates<AuthorizationContext>;

export const authorizationMachine = setup({
  types: { context: {} as AuthorizationContext, events: {} as AuthorizationMachineEvent },
  actions: assignEach<AuthorizationContext, AuthorizationMachineEvent, typeof authorizationUpdates>(authorizationUpdates),
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

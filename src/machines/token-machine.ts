import type { TokenRole } from "../../events/token-events";
import { setup } from "xstate";
import type { TokenEvent } from "../../events/token-events";
import type { LeaseQuota } from "../domain/lease-quota";
import { assignEach, type ContextUpdates } from "./context-updates";

/** The token lifecycle: active -> revoked. Revoked is final: a leaked token is never brought back. */
export type TokenMachineEvent = TokenEvent & { at: string };

export type TokenStatus = "new" | "active" | "revoked";

export interface TokenContext {
  tokenId: string;
  owner: string;
  role: TokenRole;
  hash: string;
  issuedAt: string | null;
  revokedAt: string | null;
  /** When it stops working by itself; null: never (states stored before token expiry lack it). */
  expiresAt?: string | null;
  /** Its lease quota (src/domain/lease-quota.ts); null: none (states stored before quotas lack it). */
  leaseQuota?: LeaseQuota | null;
}

type Of<T extends TokenMachineEvent["type"]> = Extract<TokenMachineEvent, { type: T }>;

/** How each event changes the token's context: the machine's `assign`s and the fast fold call these. */
export const tokenUpdates = {
  issue: (_: TokenContext, e: Of<"TokenIssued">) => ({ tokenId: e.data.tokenId, owner: e.data.owner, role: e.data.role, hash: e.data.hash, issuedAt: e.at, expiresAt: e.data.expiresAt ?? null, leaseQuota: e.data.leaseQuota ?? null }),
  revoke: (_: TokenContext, e: Of<"TokenRevoked">) => ({ revokedAt: e.at }),
  requota: (_: TokenContext, e: Of<"TokenQuotaChanged">) => ({ leaseQuota: e.data.leaseQuota }),
} satisfies ContextUpdates<TokenContext>;

export const tokenMachine = setup({
  types: { context: {} as TokenContext, events: {} as TokenMachineEvent },
  actions: assignEach<TokenContext, TokenMachineEvent, typeof tokenUpdates>(tokenUpdates),
}).createMachine({
  id: "token",
  initial: "new",
  context: { tokenId: "", owner: "", role: "client", hash: "", issuedAt: null, revokedAt: null, expiresAt: null },
  states: {
    new: { on: { TokenIssued: { target: "active", actions: "issue" } } },
    active: { on: { TokenRevoked: { target: "revoked", actions: "revoke" }, TokenQuotaChanged: { actions: "requota" } } },
    revoked: { type: "final" },
  },
});

import { z } from "zod";

/**
 * Events of an authorization stream (`authorization-<id>`): may this client (a token owner, or
 * `blueprint:<id>` for a blueprint whose resources lease from another) use this blueprint?
 * One stream per (blueprint, client) pair, after Drydock's authorization rows, but every step is
 * an event, so who asked, who approved and who revoked is in the log with its actor.
 */
export const authorizationEventSchemas = {
  AuthorizationRequested: z.object({
    authorizationId: z.string(),
    blueprintId: z.string(),
    client: z.string(),
  }),
  AuthorizationApproved: z.object({}),
  AuthorizationDeclined: z.object({ reason: z.string().nullable() }),
  AuthorizationRevoked: z.object({
    reason: z.string().nullable(),
    /** The client's live leases on the blueprint were released along with the revocation. */
    releaseLeases: z.boolean(),
  }),
} as const;

export type AuthorizationEventType = keyof typeof authorizationEventSchemas;
export type AuthorizationEventData<T extends AuthorizationEventType> = z.infer<(typeof authorizationEventSchemas)[T]>;
export type AuthorizationEvent = {
  [T in AuthorizationEventType]: { type: T; data: AuthorizationEventData<T> };
}[AuthorizationEventType];

export const authorizationEventVersions: Record<AuthorizationEventType, number> = {
  AuthorizationRequested: 1,
  AuthorizationApproved: 1,
  AuthorizationDeclined: 1,
  AuthorizationRevoked: 1,
};

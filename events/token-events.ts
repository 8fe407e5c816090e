import { z } from "zod";
import { leaseQuotaSchema } from "../src/domain/lease-quota";

/**
 * Events of a token stream (`token-<id>`). A token is a bearer secret: the log keeps only its
 * SHA-256 hash, never the token itself, so the log (and every backup of it) is safe to read.
 */
/** admin: everything; client: its own leases; metrics: only GET /metrics (a Prometheus scraper). */
export const tokenRoleSchema = z.enum(["admin", "client", "metrics"]);
export type TokenRole = z.infer<typeof tokenRoleSchema>;

export const tokenEventSchemas = {
  TokenIssued: z.object({
    tokenId: z.string(),
    /** The client name the token acts as: it owns the leases the token requests. */
    owner: z.string(),
    role: tokenRoleSchema,
    /** `sha256:<hex>` of the whole token string. */
    hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    /**
     * The TTL of leases this token asks for without naming one (src/domain/lease-ttl.ts); absent:
     * none of its own, the blueprint's or the service's applies. Optional: older events read as
     * they are, no new version.
     */
    defaultLeaseTtlSeconds: z.number().int().positive().optional(),
    /**
     * Live leases the owner may hold at once when asking with this token (src/domain/lease-quota.ts);
     * absent: no quota. Optional, as above.
     */
    leaseQuota: leaseQuotaSchema.optional(),
    /** When the token stops working by itself; absent: when it is revoked. Optional, as above. */
    expiresAt: z.string().datetime({ offset: true }).optional(),
  }),
  TokenRevoked: z.object({ reason: z.string().nullable() }),
  /**
   * An admin changed the token's quota; null: none from now on. Leases it asks for from now on
   * carry the new one, and so do its leases still waiting (LeaseQuotaChanged on each, in the
   * same append).
   */
  TokenQuotaChanged: z.object({ leaseQuota: leaseQuotaSchema.nullable() }),
} as const;

export type TokenEventType = keyof typeof tokenEventSchemas;
export type TokenEventData<T extends TokenEventType> = z.infer<(typeof tokenEventSchemas)[T]>;
export type TokenEvent = { [T in TokenEventType]: { type: T; data: TokenEventData<T> } }[TokenEventType];

export const tokenEventVersions: Record<TokenEventType, number> = {
  TokenIssued: 1,
  TokenRevoked: 1,
  TokenQuotaChanged: 1,
};

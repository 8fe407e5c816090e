import type { Selectable } from "kysely";
import type { ProjectedEvent } from "../src/store/projection";
import type { TokenEventData } from "../events/token-events";
import type { TokensTable } from "../src/store/schema";
import type { RowChange } from "./row-change";

export type TokenRow = Selectable<TokensTable>;

/** What a token event does to its `tokens` row (null: nothing); the one definition of that row. */
export function tokenRowChange(event: ProjectedEvent): RowChange<TokenRow> | null {
  const base = { version: event.streamVersion, updated_at: event.recordedAt };
  switch (event.type) {
    case "TokenIssued": {
      const d = event.data as TokenEventData<"TokenIssued">;
      return {
        insert: {
          token_id: d.tokenId,
          owner: d.owner,
          role: d.role,
          token_hash: d.hash,
          default_lease_ttl_seconds: d.defaultLeaseTtlSeconds ?? null,
          lease_quota: d.leaseQuota ?? null,
          expires_at: d.expiresAt ? new Date(d.expiresAt) : null,
          status: "active",
          issued_by: event.metadata.actor,
          issued_at: event.recordedAt,
          revoked_by: null,
          revoked_at: null,
          ...base,
        },
      };
    }
    case "TokenQuotaChanged":
      return { set: { ...base, lease_quota: (event.data as TokenEventData<"TokenQuotaChanged">).leaseQuota } };
    case "TokenRevoked":
      return { set: { ...base, status: "revoked", revoked_by: event.metadata.actor, revoked_at: event.recordedAt } };
    default:
      return null;
  }
}

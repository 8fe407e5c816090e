import type { RecordedEvent } from "../../events/envelope";
import type { TokenEventData } from "../../events/token-events";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/tokens-projection.ts: the same `tokens` rows, in memory. */
export const tokensRows: BatchProjection = {
  name: "tokens",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("token-")) return;
    const id = event.streamId.slice("token-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "TokenIssued": {
        const d = event.data as TokenEventData<"TokenIssued">;
        rows.tokens.insert(d.tokenId, {
          token_id: d.tokenId,
          owner: d.owner,
          role: d.role,
          token_hash: d.hash,
          default_lease_ttl_seconds: d.defaultLeaseTtlSeconds ?? null,
          status: "active",
          issued_by: event.metadata.actor,
          issued_at: event.recordedAt,
          revoked_by: null,
          revoked_at: null,
          ...base,
        });
        return;
      }
      case "TokenRevoked":
        rows.tokens.update(id, base, { status: "revoked", revoked_by: event.metadata.actor, revoked_at: event.recordedAt });
        return;
      default:
        return;
    }
  },
};

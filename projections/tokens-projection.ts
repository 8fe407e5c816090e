import type { RecordedEvent } from "../events/envelope";
import type { TokenEventData } from "../events/token-events";
import type { InlineProjection } from "../src/store/projection";

/** The `tokens` table: each token's owner, role, hash and whether it is still active. */
export const tokensProjection: InlineProjection = {
  name: "tokens",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("token-")) return;
    const id = event.streamId.slice("token-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "TokenIssued": {
        const d = event.data as TokenEventData<"TokenIssued">;
        await db
          .insertInto("tokens")
          .values({
            token_id: d.tokenId,
            owner: d.owner,
            role: d.role,
            token_hash: d.hash,
            default_lease_ttl_seconds: d.defaultLeaseTtlSeconds ?? null,
            status: "active",
            issued_by: event.metadata.actor,
            issued_at: event.recordedAt,
            ...base,
          })
          .execute();
        return;
      }
      case "TokenRevoked":
        await db
          .updateTable("tokens")
          .set({ ...base, status: "revoked", revoked_by: event.metadata.actor, revoked_at: event.recordedAt })
          .where("token_id", "=", id)
          .execute();
        return;
      default:
        return;
    }
  },
};

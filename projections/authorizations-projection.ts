import type { AuthorizationEventData } from "../events/authorization-events";
import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";

/** The `authorizations` table: one row per (blueprint, client), its state and who decided it. */
export const authorizationsProjection: InlineProjection = {
  name: "authorizations",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("authorization-")) return;
    const id = event.streamId.slice("authorization-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    const decide = (state: string, reason: string | null) =>
      db
        .updateTable("authorizations")
        .set({ ...base, state, reason, decided_by: event.metadata.actor, decided_at: event.recordedAt })
        .where("authorization_id", "=", id)
        .execute();
    switch (event.type) {
      case "AuthorizationRequested": {
        const d = event.data as AuthorizationEventData<"AuthorizationRequested">;
        await db
          .insertInto("authorizations")
          .values({
            authorization_id: d.authorizationId,
            blueprint_id: d.blueprintId,
            client: d.client,
            state: "requested",
            requested_by: event.metadata.actor,
            requested_at: event.recordedAt,
            ...base,
          })
          .execute();
        return;
      }
      case "AuthorizationApproved":
        await decide("approved", null);
        return;
      case "AuthorizationDeclined":
        await decide("declined", (event.data as AuthorizationEventData<"AuthorizationDeclined">).reason);
        return;
      case "AuthorizationRevoked":
        await decide("revoked", (event.data as AuthorizationEventData<"AuthorizationRevoked">).reason);
        return;
      default:
        return;
    }
  },
};

import type { AuthorizationEventData } from "../../events/authorization-events";
import type { RecordedEvent } from "../../events/envelope";
import type { AuthorizationRow, BatchProjection } from "./row-set";

/** The batch form of projections/authorizations-projection.ts: the same `authorizations` rows, in memory. */
export const authorizationsRows: BatchProjection = {
  name: "authorizations",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("authorization-")) return;
    const id = event.streamId.slice("authorization-".length);
    const base = { version: event.streamVersion, updated_at: event.recordedAt };
    switch (event.type) {
      case "AuthorizationRequested": {
        const d = event.data as AuthorizationEventData<"AuthorizationRequested">;
        rows.authorizations.insert(d.authorizationId, {
          authorization_id: d.authorizationId,
          blueprint_id: d.blueprintId,
          client: d.client,
          state: "requested",
          reason: null,
          requested_by: event.metadata.actor,
          requested_at: event.recordedAt,
          decided_by: null,
          decided_at: null,
          ...base,
        });
        return;
      }
      case "AuthorizationApproved":
        rows.authorizations.update(id, base, decision(event, "approved", null));
        return;
      case "AuthorizationDeclined":
        rows.authorizations.update(id, base, decision(event, "declined", (event.data as AuthorizationEventData<"AuthorizationDeclined">).reason));
        return;
      case "AuthorizationRevoked":
        rows.authorizations.update(id, base, decision(event, "revoked", (event.data as AuthorizationEventData<"AuthorizationRevoked">).reason));
        return;
      default:
        return;
    }
  },
};

function decision(event: RecordedEvent, state: string, reason: string | null): Partial<AuthorizationRow> {
  return { state, reason, decided_by: event.metadata.actor, decided_at: event.recordedAt };
}

import type { Selectable } from "kysely";
import type { AuthorizationEventData } from "../events/authorization-events";
import type { ProjectedEvent } from "../src/store/projection";
import type { AuthorizationsTable } from "../src/store/schema";
import type { RowChange } from "./row-change";

export type AuthorizationRow = Selectable<AuthorizationsTable>;

/** What an authorization event does to its row (null: nothing); the one definition of that row. */
export function authorizationRowChange(event: ProjectedEvent): RowChange<AuthorizationRow> | null {
  const base = { version: event.streamVersion, updated_at: event.recordedAt };
  const decide = (state: string, reason: string | null): RowChange<AuthorizationRow> => ({
    set: { ...base, state, reason, decided_by: event.metadata.actor, decided_at: event.recordedAt },
  });
  switch (event.type) {
    case "AuthorizationRequested": {
      const d = event.data as AuthorizationEventData<"AuthorizationRequested">;
      return {
        insert: {
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
        },
      };
    }
    case "AuthorizationApproved":
      return decide("approved", null);
    case "AuthorizationDeclined":
      return decide("declined", (event.data as AuthorizationEventData<"AuthorizationDeclined">).reason);
    case "AuthorizationRevoked":
      return decide("revoked", (event.data as AuthorizationEventData<"AuthorizationRevoked">).reason);
    default:
      return null;
  }
}

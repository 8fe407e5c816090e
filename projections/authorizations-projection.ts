import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";
import { authorizationRowChange } from "./authorization-row-changes";
import { applyRowChange } from "./row-change";

/** The `authorizations` table: one row per (blueprint, client), its state and who decided it. */
export const authorizationsProjection: InlineProjection = {
  name: "authorizations",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("authorization-")) return;
    const change = authorizationRowChange(event);
    if (change) await applyRowChange(db, { table: "authorizations", column: "authorization_id", value: event.streamId.slice("authorization-".length) }, change);
  },
};

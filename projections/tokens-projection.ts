import type { RecordedEvent } from "../events/envelope";
import type { InlineProjection } from "../src/store/projection";
import { applyRowChange } from "./row-change";
import { tokenRowChange } from "./token-row-changes";

/** The `tokens` table: each token's owner, role, hash and whether it is still active. */
export const tokensProjection: InlineProjection = {
  name: "tokens",
  async apply(db, event: RecordedEvent) {
    if (!event.streamId.startsWith("token-")) return;
    const change = tokenRowChange(event);
    if (change) await applyRowChange(db, { table: "tokens", column: "token_id", value: event.streamId.slice("token-".length) }, change);
  },
};

import type { RecordedEvent } from "../../events/envelope";
import { applyRowChangeInMemory } from "../row-change";
import { tokenRowChange } from "../token-row-changes";
import type { BatchProjection } from "./row-set";

/** The batch form of projections/tokens-projection.ts: the same row changes, in memory. */
export const tokensRows: BatchProjection = {
  name: "tokens",
  apply(rows, event: RecordedEvent) {
    if (!event.streamId.startsWith("token-")) return;
    const change = tokenRowChange(event);
    if (change) applyRowChangeInMemory(rows.tokens, event.streamId.slice("token-".length), change, event.type);
  },
};

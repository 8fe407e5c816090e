import type { RecordedEvent } from "../../events/envelope";
import type { EventStore } from "../../src/store/event-store";

/** The whole log in global-position order. */
export async function readWholeLog(store: EventStore): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  for (let after = 0; ; ) {
    const batch = await store.readByPosition(after, 5000);
    if (batch.length === 0) return all;
    all.push(...batch);
    after = batch.at(-1)!.globalPosition;
  }
}

import type { Kysely } from "kysely";
import { readEventsAfter } from "../log-queries";
import type { InlineProjection } from "../projection";
import type { DrydockDatabase } from "../schema";

/**
 * Replays the log through the inline projections themselves, the SQL the appends run, about a
 * statement per event: the reference the batched rebuild is tested against, and the fallback for
 * a projection that has no batch form. Claims run just before their event, as they did when it
 * was appended (see InlineProjection). A projection that `recomputes` applies once per stream
 * and page, at the stream's last event in the page.
 */
export async function replayEventByEvent(
  trx: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: { batchSize: number; onProgress?: (events: number) => void },
): Promise<number> {
  let after = 0;
  let count = 0;
  for (;;) {
    const events = await readEventsAfter(trx, after, options.batchSize);
    if (events.length === 0) break;
    const lastOfStream = new Map<string, number>();
    events.forEach((event, i) => lastOfStream.set(event.streamId, i));
    for (const [i, event] of events.entries()) {
      const last = lastOfStream.get(event.streamId) === i;
      for (const p of projections) await p.claim?.(trx, event);
      for (const p of projections) if (last || !p.recomputes) await p.apply(trx, event);
    }
    count += events.length;
    after = events.at(-1)!.globalPosition;
    options.onProgress?.(count);
  }
  return count;
}

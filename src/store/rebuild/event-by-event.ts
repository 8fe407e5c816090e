import type { Kysely } from "kysely";
import type { RecordedEvent } from "../../../events/envelope";
import { eventFromRow } from "../event-store";
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
    const rows = await trx.selectFrom("events").selectAll().where("global_position", ">", after).orderBy("global_position").limit(options.batchSize).execute();
    if (rows.length === 0) break;
    const lastOfStream = new Map<string, number>();
    rows.forEach((row, i) => lastOfStream.set(row.stream_id, i));
    for (const [i, row] of rows.entries()) {
      const event: RecordedEvent = eventFromRow(row as never);
      const last = lastOfStream.get(event.streamId) === i;
      for (const p of projections) await p.claim?.(trx, event);
      for (const p of projections) if (last || !p.recomputes) await p.apply(trx, event);
    }
    count += rows.length;
    after = Number(rows.at(-1)!.global_position);
    options.onProgress?.(count);
  }
  return count;
}
